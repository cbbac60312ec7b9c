/**
 * Key-value port: short-lived shared state (idempotency keys, rate-limit and
 * login-failure counters, locks). Redis when REDIS_URL is set, in-process
 * otherwise. Keys are namespaced by the adapter's prefix.
 */
export interface Lock {
  readonly key: string;
  /** Releases the lock only if this holder still owns it. */
  release(): Promise<void>;
}

export interface CounterValue {
  /** Value after the increment. */
  count: number;
  /** Milliseconds until the counter's window ends. */
  ttlMs: number;
}

export interface KeyValueStore {
  readonly adapter: "redis" | "memory";
  get(key: string): Promise<string | null>;
  /** Sets a value; with ttlMs (> 0) it expires, without (or 0) it does not. */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /** Sets only when the key does not exist; true when this call set it. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  del(key: string): Promise<void>;
  /** Fixed-window counter: increments, starting a window of windowMs on the first hit. */
  increment(key: string, windowMs: number): Promise<CounterValue>;
  /** Tries once to take an exclusive lock for ttlMs; null when another holder has it. */
  tryLock(key: string, ttlMs: number): Promise<Lock | null>;
  /**
   * Takes the lock (waiting up to waitMs, default 5000), runs fn, releases. Throws when the lock
   * can't be had. fn must finish within ttlMs: the lock is not extended.
   */
  withLock<T>(key: string, ttlMs: number, fn: () => Promise<T>, waitMs?: number): Promise<T>;
  /** True when the backing store answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
