import type { ChannelSchema, Context, Service } from "moleculer";
import { runWithRequestContext } from "../observability/request-context";
import { inChannelSpan, traceParentOf } from "../observability/tracing";
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
 *
 * With tracing on, each delivery is a span ("channel '<topic>' <type>") in
 * the trace of the request that caused the message, the child of the span
 * that enqueued it (see sendEnvelope); its tags name the message, never its
 * payload (reset links, addresses).
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
      const meta = ctx.meta;
      meta.correlationId ??= headers.correlationId ?? ctx.requestID ?? undefined;
      if (!meta.sagaId && headers.sagaId) meta.sagaId = headers.sagaId;
      const context = {
        requestId: ctx.requestID ?? undefined,
        correlationId: meta.correlationId,
        sagaId: meta.sagaId,
      };
      // The whole delivery, its span included, runs in the message's request context.
      return runWithRequestContext(context, () =>
        inChannelSpan(
          ctx,
          this as Service,
          spanName(topic, ctx.params),
          spanTags(ctx),
          async () => {
            const envelope = parseEnvelope<P>(ctx.params);
            meta.messageId = envelope.id;
            return runWithRequestContext({ trace: traceParentOf(ctx) }, () =>
              handler.call(this, envelope, ctx, headers),
            );
          },
        ),
      );
    },
  };

  function spanTags(ctx: MessageContext<P>) {
    return {
      channel: { topic, group },
      message: {
        id: envelopeField(ctx.params, "id"),
        type: envelopeField(ctx.params, "type"),
        aggregateId: envelopeField(ctx.params, "aggregateId"),
      },
    };
  }
}

function spanName(topic: Topic, body: unknown): string {
  const type = envelopeField(body, "type");
  return type ? `channel '${topic}' ${type}` : `channel '${topic}'`;
}

/** Transport headers as strings; the library's own ($meta, $requestID…) are left out. */
function incomingHeaders(raw: Record<string, unknown> | null): IncomingHeaders {
  const out: IncomingHeaders = {};
  for (const [key, value] of Object.entries(raw ?? {})) {
    if (!key.startsWith("$") && typeof value === "string") out[key] = value;
  }
  return out;
}

/** A field of a body that may not be an envelope (span names and tags are made before the check). */
function envelopeField(body: unknown, field: "id" | "type" | "aggregateId"): string | undefined {
  const value = (body as Record<string, unknown> | null)?.[field];
  return typeof value === "string" ? value : undefined;
}
