import { randomUUID } from "node:crypto";

/**
 * The body of every durable message (ARCHITECTURE §4). The payload is the
 * event or command itself; the rest identifies it so consumers can
 * de-duplicate (`id`), route (`type`), evolve (`version`) and order or
 * partition (`aggregateId`) it.
 */
export interface MessageEnvelope<P = unknown> {
  /** Unique message id (a UUID); also the `messageId` header and the inbox key. */
  id: string;
  /** `<Entity><PastTense>` for events, `<Verb><Entity>` for commands. */
  type: string;
  /** Schema version of `type`'s payload (starts at 1); bump when its shape changes. */
  version: number;
  /** The entity the message is about (order id, saga id, user id…); the partition key. */
  aggregateId: string;
  /** ISO 8601 time the fact happened (or the command was issued). */
  occurredAt: string;
  payload: P;
}

/**
 * Transport headers of every durable message. All values are strings so they
 * survive every adapter (NATS and Kafka headers are strings or bytes).
 */
export interface MessageHeaders {
  /** The request or saga the message belongs to; becomes the consumer's ctx.requestID. */
  correlationId: string;
  sagaId?: string;
  /** Id of the message whose handling caused this one. */
  causationId?: string;
  /** ISO 8601 time the message was enqueued. */
  timestamp: string;
  /** Name of the service that produced it. */
  source: string;
  messageId: string;
  /**
   * Tracing (when on where the message was enqueued): the trace and the span
   * that enqueued it, and whether that trace is recorded. The consumer's span
   * becomes that span's child, however late the message is published.
   */
  traceId?: string;
  parentSpanId?: string;
  traceSampled?: "true" | "false";
}

/**
 * What a durable message adds to the consumer's ctx.meta, so that messages it
 * causes (through ctx.call or the outbox) carry the same correlation.
 */
export interface MessageMeta {
  correlationId?: string;
  sagaId?: string;
  /** Id of the message being handled: the causationId of anything it causes. */
  messageId?: string;
}

export interface NewEnvelope<P> {
  type: string;
  aggregateId: string;
  payload: P;
  version?: number;
  id?: string;
  occurredAt?: Date | string;
}

export function createEnvelope<P>(input: NewEnvelope<P>): MessageEnvelope<P> {
  const occurredAt = input.occurredAt ?? new Date();
  return {
    id: input.id ?? randomUUID(),
    type: input.type,
    version: input.version ?? 1,
    aggregateId: input.aggregateId,
    occurredAt: typeof occurredAt === "string" ? occurredAt : occurredAt.toISOString(),
    payload: input.payload,
  };
}

export interface HeaderInput {
  source: string;
  correlationId?: string;
  causationId?: string;
  sagaId?: string;
  timestamp?: Date;
  trace?: { traceId: string; spanId: string; sampled: boolean };
}

/** Headers for an envelope. Without a correlation id the message starts its own (its id). */
export function headersFor(envelope: MessageEnvelope, input: HeaderInput): MessageHeaders {
  const headers: MessageHeaders = {
    correlationId: input.correlationId ?? envelope.id,
    timestamp: (input.timestamp ?? new Date()).toISOString(),
    source: input.source,
    messageId: envelope.id,
  };
  // Absent rather than undefined: NATS rejects undefined header values.
  if (input.sagaId) headers.sagaId = input.sagaId;
  if (input.causationId) headers.causationId = input.causationId;
  if (input.trace) {
    headers.traceId = input.trace.traceId;
    headers.parentSpanId = input.trace.spanId;
    headers.traceSampled = input.trace.sampled ? "true" : "false";
  }
  return headers;
}

export class InvalidEnvelopeError extends Error {
  override readonly name = "InvalidEnvelopeError";
}

/** Checks an incoming message body; a malformed one throws (and so ends in the DLQ). */
export function parseEnvelope<P = unknown>(value: unknown): MessageEnvelope<P> {
  if (typeof value !== "object" || value === null)
    throw new InvalidEnvelopeError("message body is not an object");
  const v = value as Record<string, unknown>;
  for (const field of ["id", "type", "aggregateId", "occurredAt"] as const) {
    if (typeof v[field] !== "string" || v[field] === "")
      throw new InvalidEnvelopeError(`envelope field "${field}" must be a non-empty string`);
  }
  if (!Number.isInteger(v.version))
    throw new InvalidEnvelopeError(`envelope field "version" must be an integer`);
  if (!("payload" in v)) throw new InvalidEnvelopeError(`envelope has no payload`);
  return v as unknown as MessageEnvelope<P>;
}
