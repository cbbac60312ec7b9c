import { Adapters } from "@moleculer/channels";
import { BoundedMap } from "../../bounded-map";
import { DeadLetterHeaders, FailureInfo, failureHeaders } from "./dead-letter-headers";

/**
 * The library's Redis Streams and NATS JetStream adapters, with dead letters
 * that say why they died. The library moves a message to the DLQ with its
 * original channel and group only (NATS even drops the original headers, and
 * with them the correlation id); an operator needs the error and the attempt
 * count, and a replay needs the headers. Nothing else is changed.
 *
 * The error is remembered by the node that saw the handler fail, keyed by
 * channel, group and message id; on Redis another member of the group may be
 * the one that moves the message, and then the DLQ entry has no error text.
 */

type Channel = {
  name: string;
  group: string;
  deadLettering: { enabled: boolean; queueName: string };
  handler: (payload: unknown, raw: unknown) => Promise<unknown>;
};

type RawHeaders = Record<string, unknown> | null | undefined;

/** Last failure per message, bounded so a flood of failures cannot grow it without end. */
class FailureLog {
  private readonly entries: BoundedMap<string, { error: unknown; attempts: number }>;
  constructor(limit = 1000) {
    this.entries = new BoundedMap(limit);
  }

  record(key: string, error: unknown): void {
    const previous = this.entries.get(key);
    this.entries.set(key, { error, attempts: (previous?.attempts ?? 0) + 1 });
  }

  forget(key: string): void {
    this.entries.delete(key);
  }

  take(key: string): FailureInfo | undefined {
    return this.entries.take(key);
  }
}

function messageKey(chan: Channel, payload: unknown, headers: RawHeaders): string | undefined {
  const id = headers?.messageId ?? (payload as { id?: unknown } | null)?.id;
  return typeof id === "string" ? `${chan.name}|${chan.group}|${id}` : undefined;
}

/** Wraps the channel handler so failures are remembered until the message is dead-lettered. */
function recordFailures(
  chan: Channel,
  log: FailureLog,
  headersOf: (raw: unknown) => RawHeaders,
): void {
  const handler = chan.handler;
  chan.handler = async (payload, raw) => {
    const key = messageKey(chan, payload, headersOf(raw));
    try {
      const result = await handler(payload, raw);
      if (key) log.forget(key);
      return result;
    } catch (err) {
      if (key) log.record(key, err);
      throw err;
    }
  };
}

type RedisChannel = Parameters<InstanceType<typeof Adapters.Redis>["subscribe"]>[0];

export class RedisChannelsAdapter extends Adapters.Redis {
  private readonly failures = new FailureLog();

  override async subscribe(chan: RedisChannel): Promise<void> {
    recordFailures(chan as unknown as Channel, this.failures, (raw) => {
      return (raw as { headers?: RawHeaders } | undefined)?.headers;
    });
    return super.subscribe(chan);
  }

  override async moveToDeadLetter(
    chan: Parameters<InstanceType<typeof Adapters.Redis>["moveToDeadLetter"]>[0],
    originalID: string,
    message: Buffer,
    headers: RawHeaders,
  ): Promise<void> {
    const c = chan as unknown as Channel;
    const key = messageKey(c, safeDeserialize(this.serializer, message), headers);
    const failure = key ? this.failures.take(key) : undefined;
    return super.moveToDeadLetter(chan, originalID, message, {
      ...headers,
      ...failureHeaders(failure),
    });
  }
}

type NatsChannel = Parameters<InstanceType<typeof Adapters.NATS>["subscribe"]>[0];
type JsMsg = Parameters<InstanceType<typeof Adapters.NATS>["moveToDeadLetter"]>[1];

export class NatsChannelsAdapter extends Adapters.NATS {
  private readonly failures = new FailureLog();
  /** Channels whose stream this adapter has made sure of. */
  private readonly streams = new Set<string>();

  /**
   * JetStream keeps only what a stream holds, and the library creates a
   * channel's stream when a consumer subscribes: on a node that only
   * publishes a topic (or before its consumers start), every publish would
   * fail. So the stream is made sure of (as subscribe names it) first.
   */
  override async publish(
    channelName: string,
    payload: unknown,
    opts?: Parameters<InstanceType<typeof Adapters.NATS>["publish"]>[2],
  ): Promise<void> {
    if (this.connected && !this.streams.has(channelName)) {
      await this.createStream(channelName.split(".").join("_"), [channelName], {} as never);
      this.streams.add(channelName);
    }
    return super.publish(channelName, payload, opts);
  }

  override async subscribe(chan: NatsChannel): Promise<void> {
    recordFailures(chan as unknown as Channel, this.failures, (raw) => this.headersOf(raw));
    return super.subscribe(chan);
  }

  /** Replaces the library's: keeps the original headers and adds the failure. */
  override async moveToDeadLetter(chan: NatsChannel, message: JsMsg): Promise<void> {
    const c = chan as unknown as Channel;
    const original = this.headersOf(message) ?? {};
    const key = messageKey(c, safeDeserialize(this.serializer, message.data), original);
    const failure = key ? this.failures.take(key) : undefined;
    const headers: Record<string, string> = {
      ...(original as Record<string, string>),
      [DeadLetterHeaders.originalId]: String(message.seq),
      [DeadLetterHeaders.originalChannel]: c.name,
      [DeadLetterHeaders.originalGroup]: c.group,
      ...failureHeaders({
        error: failure?.error ?? "unknown (failed on another node)",
        attempts: message.info.redeliveryCount,
      }),
    };
    try {
      // The library turns a plain object into NATS headers (its typings say MsgHdrs).
      const opts = { raw: true, headers };
      await this.publish(c.deadLettering.queueName, message.data, opts as never);
      this.metricsIncrement("moleculer.channels.messages.deadLettering.total", chan);
      this.logger.warn(
        `Moved message ${message.seq} of '${c.name}' to '${c.deadLettering.queueName}'`,
      );
    } catch (err) {
      // The library acks the message after this returns; say loudly that it is lost.
      this.logger.error(`Could not dead-letter message ${message.seq} of '${c.name}'`, err);
    }
  }

  private headersOf(raw: unknown): Record<string, unknown> | null {
    return raw && (raw as { headers?: unknown }).headers
      ? (this.parseMessageHeaders(raw) as Record<string, unknown>)
      : null;
  }
}

function safeDeserialize(
  serializer: { deserialize(buf: Buffer): unknown },
  data: Buffer | Uint8Array,
): unknown {
  try {
    return serializer.deserialize(Buffer.from(data));
  } catch {
    return undefined;
  }
}
