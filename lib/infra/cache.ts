import type { CacherConfig } from "moleculer";
import { Config } from "../config";
import { immutableCopy } from "../immutable";
import { IndexedRedisCacher } from "./indexed-redis-cacher";
import { redisConnectionOptions } from "./tls";

/** Seconds a cached action result lives unless the action sets its own ttl. */
const CACHE_TTL_SEC = 300;

/**
 * The broker's `cacher` option: Moleculer's Redis cacher (ioredis) when REDIS_URL is set,
 * so every node shares one cache, with cleaning by service index (indexed-redis-cacher.ts);
 * its memory cacher otherwise. A memory entry is stored as
 * a deep-frozen copy and handed out as it is (lib/immutable.ts): a caller cannot change
 * what the next caller gets (writing to it throws), no read pays for a copy, and the
 * gateway encodes an entry's JSON once. The cacher applies `clone` on set and on get.
 */
export function cacherOptions(config: Config): CacherConfig | IndexedRedisCacher {
  if (config.redisUrl) {
    // The cacher appends "-" to the prefix: keys read "<REDIS_PREFIX>cache-<action>:<hash>".
    // `redis` goes to `new Redis(...)`: connection options, so rediss:// gets the TLS settings.
    return new IndexedRedisCacher({
      prefix: `${config.redisPrefix}cache`,
      ttl: CACHE_TTL_SEC,
      redis: { ...redisConnectionOptions(config, config.redisUrl) },
    });
  }
  return { type: "Memory", options: { ttl: CACHE_TTL_SEC, clone: immutableCopy } };
}
