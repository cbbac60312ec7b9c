import { createHash } from "node:crypto";
import type { Context, Service } from "moleculer";
import { ServiceBroker, Span, TracerExporters, TracerOptions } from "moleculer";
import type { Config } from "../config";

/**
 * Tracing with Moleculer's built-in tracer (ARCHITECTURE §9). Every action
 * and channel handler is a span; the trace id is the request id (the
 * gateway's X-Request-ID, which is also the correlation id of every message
 * the request causes), so a trace and the log lines of a request share one
 * id. Durable messages carry the span that enqueued them in their headers
 * (lib/messaging/outbox.ts), so consumers' spans join the trace.
 *
 * TRACING_EXPORTER=jaeger uses Moleculer's own Jaeger exporter (with the
 * jaeger-client package). The separate moleculer-jaeger package targets an
 * older Moleculer and exports nothing on 0.15.
 */

/** The span a piece of work runs in: what a message it causes names as its parent. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

type SpanIds = Pick<Span, "id" | "traceID" | "sampled">;

/** The active span of a Moleculer context (action or channel handler), when tracing is on. */
export function traceParentOf(ctx: { span?: SpanIds | null } | undefined): TraceParent | undefined {
  const span = ctx?.span;
  if (!span) return undefined;
  return { traceId: span.traceID, spanId: span.id, sampled: span.sampled };
}

/**
 * Whether a trace that starts now (a message with no trace to join, e.g. one
 * a sweeper wrote) is recorded, by the tracer's own sampling rule.
 */
export function sampleNewTrace(broker: ServiceBroker): boolean {
  if (!broker.isTracingEnabled()) return false;
  // The tracer's rule reads only a span's priority (and only with minPriority set).
  return broker.tracer.shouldSample({ priority: 5 } as Span);
}

/**
 * Runs a channel handler in its span: the child of the span that enqueued
 * the message (ctx.parentID), in the message's trace (ctx.requestID), with
 * the trace's sampling decision (ctx.tracing). @moleculer/channels' own
 * tracing middleware would do the same but cannot name the consuming
 * service (a channel ctx has none), so every delivery would show up in
 * Jaeger under "no-service".
 */
export async function inChannelSpan<T>(
  ctx: Context,
  service: Service,
  name: string,
  tags: Record<string, unknown>,
  work: () => Promise<T>,
): Promise<T> {
  if (!ctx.broker.isTracingEnabled()) return work();
  const span = ctx.startSpan(name, {
    id: ctx.id,
    type: "channel",
    traceID: ctx.requestID ?? undefined,
    parentID: ctx.parentID ?? undefined,
    service,
    sampled: ctx.tracing ?? undefined,
    tags: { requestID: ctx.requestID, callingLevel: ctx.level, nodeID: ctx.broker.nodeID, ...tags },
  });
  ctx.tracing = span.sampled;
  try {
    return await work();
  } catch (err) {
    span.setError(err as Error);
    throw err;
  } finally {
    ctx.finishSpan(span);
  }
}

/**
 * Request ids are any short string a client sends (X-Request-ID); Jaeger
 * ids are hex. Hex ids (uuids, Moleculer's own) are kept, so the Jaeger
 * trace id is the request id without its dashes; anything else is hashed,
 * the same way everywhere, so parents and children still match.
 */
export function jaegerHexId(id: string, hexChars: 16 | 32): string {
  const plain = id.replace(/-/g, "");
  if (/^[0-9a-f]+$/i.test(plain) && plain.length >= 16 && plain.length % 2 === 0)
    return plain.slice(0, hexChars).toLowerCase();
  return createHash("sha256").update(id).digest("hex").slice(0, hexChars);
}

const BuiltInJaegerExporter = TracerExporters.Jaeger;

/** What a failed span tells about its error. */
const ERROR_FIELDS = ["name", "message", "code", "type"] as const;

/**
 * Moleculer's Jaeger exporter with 128-bit trace ids, ids that need not be
 * hex, and errors without their `data`: a validation error's data repeats
 * the rejected input (the tracer's errorFields option cannot drop it, its
 * defaults are merged in index by index).
 */
export class JaegerExporter extends BuiltInJaegerExporter {
  override errorToObject(err: Error | boolean): Record<string, unknown> {
    if (!err || typeof err !== "object") return {};
    const fields = err as unknown as Record<string, unknown>;
    return Object.fromEntries(ERROR_FIELDS.map((f) => [f, fields[f]]));
  }

  convertTraceID(id: string | null): Buffer | null {
    return id ? Buffer.from(jaegerHexId(id, 32), "hex") : null;
  }

  convertSpanID(id: string | null): Buffer | null {
    return id ? Buffer.from(jaegerHexId(id, 16), "hex") : null;
  }
}

/** The exporter's target: an HTTP collector endpoint, or udp://host:port of an agent. */
export function jaegerTarget(endpoint: string): {
  endpoint?: string;
  host?: string;
  port?: number;
} {
  const url = new URL(endpoint);
  if (url.protocol === "udp:") return { host: url.hostname, port: Number(url.port || 6832) };
  if (url.protocol === "http:" || url.protocol === "https:") return { endpoint };
  throw new Error(`JAEGER_ENDPOINT must be http(s):// or udp://, got "${endpoint}"`);
}

export function tracingOptions(config: Config): TracerOptions {
  if (config.tracingExporter === "none") return { enabled: false };
  const exporter =
    config.tracingExporter === "jaeger"
      ? new JaegerExporter({
          ...jaegerTarget(config.jaegerEndpoint),
          // Moleculer decides what is sampled (TRACING_SAMPLE_RATE); Jaeger keeps all it gets.
          sampler: { type: "Const", options: { decision: 1 } },
        })
      : { type: "Console", options: { width: 120 } };
  return {
    enabled: true,
    exporter: exporter as TracerOptions["exporter"],
    sampling: { rate: config.tracingSampleRate },
    actions: true,
    // Broker events are only cache invalidation and local notices.
    events: false,
    // Params carry passwords, tokens and addresses: spans name the action, never its input.
    tags: { action: { params: false, meta: false } },
  };
}
