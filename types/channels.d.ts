import "moleculer";

/**
 * What @moleculer/channels adds to Moleculer (its own typings do not say):
 * a `channels` section in service schemas and `broker.sendToChannel`.
 */
declare module "moleculer" {
  interface ChannelSchema<TThis = Service> {
    /** Consumer group (default: the service's full name). One member per group gets each message. */
    group?: string;
    /** Handler gets (ctx, raw) instead of (payload, raw); on by default in this project. */
    context?: boolean;
    maxInFlight?: number;
    maxRetries?: number;
    deadLettering?: { enabled: boolean; queueName?: string };
    /** (ctx, raw) with context, (payload, raw) without. */
    handler(this: TThis, ctxOrPayload: unknown, raw: unknown): unknown;
  }

  // Declaration merging needs the same type parameters as Moleculer's interface.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface ServiceSchema<TSettings, TMethods, TVars, TThis> {
    channels?: Record<string, ChannelSchema<TThis> | ChannelSchema<TThis>["handler"]>;
  }

  interface SendToChannelOptions {
    /** Transport headers (string values travel on every adapter). */
    headers?: Record<string, string>;
    /** Carries requestID, meta and caller to the consumer's ctx. */
    ctx?: Context | Record<string, unknown>;
    /** Kafka partition key (other adapters ignore it). */
    key?: string;
    /** payload is already serialized. */
    raw?: boolean;
  }

  interface ServiceBroker {
    sendToChannel(
      channelName: string,
      payload: unknown,
      opts?: SendToChannelOptions,
    ): Promise<void>;
    /** The adapter instance (see lib/infra/channels). */
    channelAdapter: {
      connected: boolean;
      parseMessageHeaders(raw: unknown): Record<string, unknown> | null;
    };
  }
}
