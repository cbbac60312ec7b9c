import type { ChannelSchema, Context, Service } from "moleculer";
import { runWithRequestContext } from "../observability/request-context";
import { MessageEnvelope, MessageHeaders, MessageMeta, parseEnvelope } from "./envelope";
import { dlqTopic, Topic } from "./topics";

export type MessageContext<P = unknown> = Context<MessageEnvelope<P>, MessageMeta>;

/** The envelope headers, plus whatever else the message carried (e.g. replay markers). */
export type IncomingHeaders = Partial<MessageHeaders> & Record<string, string | undefined>;

export type MessageHandler<P, S> = (
  this: S,
  envelope: MessageEnvelope<P>,
  ctx: MessageContext<P>,
  headers: IncomingHeaders,
) => unknown;

export interface DurableChannelOptions<P, S> {
  /** Consumer group: every group gets each message once; its members share the work. */
  group: string;
  /** Messages handled at once by one node (default 1: in order per node). */
  maxInFlight?: number;
  handler: MessageHandler<P, S>;
}

/**
 * A consumer of one of the durable topics:
 *
 *   channels: {
 *     [Topics.UserEvents]: durableChannel(Topics.UserEvents, {
 *       group: "notifications",
 *       async handler(envelope, ctx) { ... },
 *     }),
 *   },
 *
 * The handler gets the checked envelope (a malformed body fails, and so ends
 * in the DLQ), the Moleculer context (requestID = the message's correlation
 * id) and the envelope headers. It runs in the message's request context, so
 * its log lines carry the correlation and saga ids, and ctx.meta.messageId
 * names the message so the outbox can record it as the causation of what the
 * handler publishes. A handler that throws is retried, then the message goes
 * to `<topic>.dlq`. Handlers must be idempotent (see inbox.ts).
 */
export function durableChannel<P = unknown, S = Service>(
  topic: Topic,
  opts: DurableChannelOptions<P, S>,
): ChannelSchema<S> {
  const { group, maxInFlight, handler } = opts;
  return {
    group,
    context: true,
    ...(maxInFlight ? { maxInFlight } : {}),
    deadLettering: { enabled: true, queueName: dlqTopic(topic) },
    async handler(this: S, ctxArg: unknown, raw: unknown) {
      const ctx = ctxArg as MessageContext<P>;
      const headers = incomingHeaders(ctx.broker.channelAdapter.parseMessageHeaders(raw));
      const envelope = parseEnvelope<P>(ctx.params);
      const meta = ctx.meta;
      meta.correlationId ??= headers.correlationId ?? ctx.requestID ?? envelope.id;
      if (!meta.sagaId && headers.sagaId) meta.sagaId = headers.sagaId;
      meta.messageId = envelope.id;
      return runWithRequestContext(
        {
          requestId: ctx.requestID ?? undefined,
          correlationId: meta.correlationId,
          sagaId: meta.sagaId,
        },
        () => handler.call(this, envelope, ctx, headers),
      );
    },
  };
}

/** Transport headers as strings; the library's own ($meta, $requestID…) are left out. */
function incomingHeaders(raw: Record<string, unknown> | null): IncomingHeaders {
  const out: IncomingHeaders = {};
  for (const [key, value] of Object.entries(raw ?? {})) {
    if (!key.startsWith("$") && typeof value === "string") out[key] = value;
  }
  return out;
}
