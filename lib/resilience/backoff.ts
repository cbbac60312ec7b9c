/**
 * Exponential backoff with jitter: retry n (1-based) waits about
 * baseMs·2^(n-1), capped at maxMs. "Equal jitter" keeps at least half of
 * that and randomizes the rest, so clients that failed together do not all
 * come back at the same moment, yet none retries at once.
 */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** 0 ≤ random() < 1 (default Math.random); injectable for tests. */
  random?: () => number;
}

export function backoffDelay(retry: number, opts: BackoffOptions): number {
  const exponential = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.max(0, retry - 1));
  const random = opts.random ?? Math.random;
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}
