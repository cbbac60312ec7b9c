import type { CacherConfig } from "moleculer";
import { Config } from "../config";
import { deepCopy } from "../deep-copy";
import { redisConnectionOptions } from "./tls";

/** Seconds a cached action result lives unless the action sets its own ttl. */
const CACHE_TTL_SEC = 300;

/**
 * The broker's `cacher` option: Moleculer's Redis cacher (ioredis) when REDIS_URL is set,
 * so every node shares one cache; its memory cacher otherwise. Memory entries are copied
 * (deepCopy, about ten times faster than the cacher's own lodash cloneDeep) so a caller
 * mutating a result cannot change what the next caller gets.
 */
export function cacherOptions(config: Config): CacherConfig {
  if (config.redisUrl) {
    return {
      type: "Redis",
      // The cacher appends "-" to the prefix: keys read "<REDIS_PREFIX>cache-<action>:<hash>".
      // `redis` goes to `new Redis(...)`: connection options, so rediss:// gets the TLS settings.
      options: {
        prefix: `${config.redisPrefix}cache`,
        ttl: CACHE_TTL_SEC,
        redis: { ...redisConnectionOptions(config, config.redisUrl) },
      },
    };
  }
  return { type: "Memory", options: { ttl: CACHE_TTL_SEC, clone: deepCopy } };
}
