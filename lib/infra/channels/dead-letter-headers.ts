/**
 * Headers a dead-lettered message carries besides its original ones. The
 * first three are the ones @moleculer/channels' Redis adapter adds; the error
 * and attempt headers are ours (added by every adapter built in
 * lib/infra/channels except Kafka, whose library adapter we use as is).
 */
export const DeadLetterHeaders = {
  originalChannel: "x-original-channel",
  originalGroup: "x-original-group",
  /** Transport id of the failed message (Redis stream id, NATS sequence, in-process counter). */
  originalId: "x-original-id",
  errorMessage: "x-error-message",
  errorType: "x-error-type",
  /** Handling attempts made before giving up, as far as the node that dead-lettered it knows. */
  attempts: "x-attempts",
  failedAt: "x-failed-at",
} as const;

/** Added when an operator replays a dead letter to its original topic. */
export const ReplayHeaders = {
  replayOf: "x-replay-of",
  replayCount: "x-replay-count",
} as const;

const ANNOTATIONS = new Set<string>([
  ...Object.values(DeadLetterHeaders),
  "x-original-partition",
  "x-redelivered-count",
  "x-group",
]);

/** The headers of a dead letter without what dead-lettering added (for replay). */
export function originalHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !ANNOTATIONS.has(k)));
}

export interface FailureInfo {
  error: unknown;
  attempts?: number;
}

export function failureHeaders(
  failure: FailureInfo | undefined,
  at = new Date(),
): Record<string, string> {
  const out: Record<string, string> = { [DeadLetterHeaders.failedAt]: at.toISOString() };
  if (!failure) return out;
  const err = failure.error as { message?: unknown; name?: unknown; type?: unknown } | undefined;
  const message = typeof err?.message === "string" ? err.message : String(failure.error);
  // Headers are not a log: keep the message short.
  out[DeadLetterHeaders.errorMessage] = message.slice(0, 1000);
  const type = typeof err?.type === "string" ? err.type : err?.name;
  if (typeof type === "string") out[DeadLetterHeaders.errorType] = type;
  if (failure.attempts) out[DeadLetterHeaders.attempts] = String(failure.attempts);
  return out;
}
