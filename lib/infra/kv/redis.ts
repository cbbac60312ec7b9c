import { randomUUID } from "node:crypto";
import Redis, { RedisOptions } from "ioredis";
import { CounterValue, KeyValueStore, Lock } from "./port";
import { withLockFrom } from "./lock";

/** Longest ping() may take before it reports the store as down. */
const PING_TIMEOUT_MS = 2000;

// Starts the window on the first hit (or heals a counter that somehow lost its TTL) and
// returns the count with the time left, all in one round trip so concurrent callers agree.
const INCREMENT = `
local count = redis.call("INCR", KEYS[1])
local ttl = redis.call("PTTL", KEYS[1])
if ttl < 0 then
  redis.call("PEXPIRE", KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}`;

// Deletes the lock only while it still holds our token: an expired lock taken over by
// another holder must not be released by the old one.
const RELEASE = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`;

/** Key-value store on Redis (ioredis). Same contract as MemoryKeyValueStore. */
export class RedisKeyValueStore implements KeyValueStore {
  readonly adapter = "redis" as const;
  private readonly redis: Redis;

  /** `connection`: a redis:// URL, or connection options (lib/infra/tls.ts, with TLS). */
  constructor(
    connection: string | RedisOptions,
    private readonly prefix: string,
    redisOptions: RedisOptions = {},
  ) {
    this.redis = redisClient(connection, {
      // Bounded: while Redis is down a command fails after a few reconnect attempts instead
      // of waiting forever; ioredis itself keeps reconnecting in the background.
      maxRetriesPerRequest: 2,
      connectTimeout: 5000,
      ...redisOptions,
    });
    reportOncePerOutage(this.redis, "key-value store");
  }

  async get(key: string): Promise<string | null> {
    return this.redis.get(this.prefix + key);
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    // Like the memory store, a missing or zero TTL means "no expiry" (and clears an old one).
    if (ttlMs) await this.redis.set(this.prefix + key, value, "PX", ttlMs);
    else await this.redis.set(this.prefix + key, value);
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.prefix + key, value, "PX", ttlMs, "NX")) === "OK";
  }

  async del(key: string): Promise<void> {
    await this.redis.del(this.prefix + key);
  }

  async increment(key: string, windowMs: number): Promise<CounterValue> {
    const [count, ttlMs] = (await this.redis.eval(INCREMENT, 1, this.prefix + key, windowMs)) as [
      number,
      number,
    ];
    return { count, ttlMs };
  }

  async tryLock(key: string, ttlMs: number): Promise<Lock | null> {
    const token = randomUUID();
    const lockKey = `${this.prefix}lock:${key}`;
    const taken = await this.redis.set(lockKey, token, "PX", ttlMs, "NX");
    if (taken !== "OK") return null;
    return {
      key,
      release: async () => {
        await this.redis.eval(RELEASE, 1, lockKey, token);
      },
    };
  }

  withLock<T>(key: string, ttlMs: number, fn: () => Promise<T>, waitMs = 5000): Promise<T> {
    return withLockFrom((k, ttl) => this.tryLock(k, ttl), key, ttlMs, fn, waitMs);
  }

  async ping(): Promise<boolean> {
    return pingWithin(this.redis, PING_TIMEOUT_MS);
  }

  async close(): Promise<void> {
    await closeClient(this.redis);
  }
}

/** An ioredis client from a URL or from connection options, with the caller's behaviour options. */
export function redisClient(connection: string | RedisOptions, options: RedisOptions): Redis {
  return typeof connection === "string"
    ? new Redis(connection, options)
    : new Redis({ ...connection, ...options });
}

/** True when Redis answers PING within `ms`; never throws. */
export async function pingWithin(client: Redis, ms: number): Promise<boolean> {
  if (client.status === "end") return false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    const pong = client.ping().then(
      (reply) => reply === "PONG",
      () => false,
    );
    return await Promise.race([pong, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Quits politely when connected; otherwise drops the connection (QUIT would queue until Redis is back). */
export async function closeClient(client: Redis): Promise<void> {
  if (client.status === "end") return;
  if (client.status !== "ready") {
    client.disconnect();
    return;
  }
  await client.quit().catch(() => client.disconnect());
}

const MAX_REASONS_PER_OUTAGE = 5;

/**
 * ioredis emits an error on every failed reconnect attempt; log each different reason of
 * an outage once (a TLS handshake cut short first, then the certificate it refused, say),
 * not every attempt. Callers see failures as rejected commands and readiness as ping().
 */
export function reportOncePerOutage(
  client: Pick<Redis, "on">,
  what: string,
  warn: (line: string) => void = (line) => console.warn(line),
): void {
  const reported = new Set<string>();
  client.on("ready", () => reported.clear());
  client.on("error", (err: Error) => {
    // At most a few reasons an outage: a message that carries a changing detail stops there.
    if (reported.has(err.message) || reported.size >= MAX_REASONS_PER_OUTAGE) return;
    reported.add(err.message);
    warn(`Redis ${what}: ${err.message} (reconnecting)`);
  });
}
