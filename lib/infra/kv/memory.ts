import { randomUUID } from "node:crypto";
import { CounterValue, KeyValueStore, Lock } from "./port";
import { withLockFrom } from "./lock";

interface Entry {
  value: string;
  expiresAt: number; // ms epoch; Infinity = no expiry
}

/** In-process key-value store for the all-in-one node and tests. Same contract as Redis. */
export class MemoryKeyValueStore implements KeyValueStore {
  readonly adapter = "memory" as const;
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly prefix = "") {
    // Expired keys are dropped lazily on read; this keeps memory bounded for keys never read again.
    this.sweeper = setInterval(() => this.dropExpired(), 30_000);
    this.sweeper.unref();
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null;
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.entries.set(this.prefix + key, {
      value,
      expiresAt: ttlMs ? Date.now() + ttlMs : Infinity,
    });
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.live(key)) return false;
    await this.set(key, value, ttlMs);
    return true;
  }

  async del(key: string): Promise<void> {
    this.entries.delete(this.prefix + key);
  }

  async increment(key: string, windowMs: number): Promise<CounterValue> {
    const now = Date.now();
    const entry = this.live(key);
    if (!entry) {
      this.entries.set(this.prefix + key, { value: "1", expiresAt: now + windowMs });
      return { count: 1, ttlMs: windowMs };
    }
    entry.value = String(Number(entry.value) + 1);
    return { count: Number(entry.value), ttlMs: entry.expiresAt - now };
  }

  async tryLock(key: string, ttlMs: number): Promise<Lock | null> {
    const token = randomUUID();
    const lockKey = `lock:${key}`;
    if (!(await this.setIfAbsent(lockKey, token, ttlMs))) return null;
    return {
      key,
      release: async () => {
        if ((await this.get(lockKey)) === token) await this.del(lockKey);
      },
    };
  }

  withLock<T>(key: string, ttlMs: number, fn: () => Promise<T>, waitMs = 5000): Promise<T> {
    return withLockFrom((k, ttl) => this.tryLock(k, ttl), key, ttlMs, fn, waitMs);
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(this.prefix + key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(this.prefix + key);
      return undefined;
    }
    return entry;
  }

  private dropExpired(): void {
    const now = Date.now();
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
  }
}
