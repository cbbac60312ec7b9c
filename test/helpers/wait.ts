export interface WaitOptions {
  /** Give up after this long (default 5000). */
  timeoutMs?: number;
  /** Pause between polls (default 10). */
  intervalMs?: number;
}

/**
 * Polls `predicate` until it returns a truthy value and resolves with that value.
 * A predicate that throws counts as "not yet"; its last error is reported on timeout,
 * so `() => { expect(x).toBe(1); return true; }` works as a predicate too.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  { timeoutMs = 5000, intervalMs = 10 }: WaitOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new Error(`waitFor timed out after ${timeoutMs} ms${cause}`, { cause: lastError });
    }
    await sleep(intervalMs);
  }
}

/** Resolves after `ms` milliseconds (for simulating work, not for waiting on results). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
