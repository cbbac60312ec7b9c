import type { Lock } from "./port";

/**
 * withLock for any store: retries tryLock with capped exponential backoff
 * until waitMs, runs fn while holding the lock, always releases it.
 */
export async function withLockFrom<T>(
  tryLock: (key: string, ttlMs: number) => Promise<Lock | null>,
  key: string,
  ttlMs: number,
  fn: () => Promise<T>,
  waitMs: number,
): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const lock = await tryLock(key, ttlMs);
    if (lock) {
      try {
        return await fn();
      } finally {
        await lock.release();
      }
    }
    if (Date.now() + delay > deadline) throw new Error(`Lock "${key}" is held elsewhere`);
    await new Promise((r) => setTimeout(r, delay));
  }
}
