import { Cluster } from "ioredis";
import type { Redis } from "ioredis";
import { Cachers, METRIC, type ServiceBroker } from "moleculer";

/** The scripts, as commands of the cacher's client (ioredis sends them by SHA). */
interface IndexedCommands {
  /** `numberOfKeys`: the entry and its one or two indexes. */
  setIndexed(
    numberOfKeys: number,
    ...keysThenArgs: [...indexedKeys: string[], value: Buffer, ttlSec: number, indexTtlSec: number]
  ): Promise<unknown>;
  deleteIndexed(index: string, indexPrefix: string): Promise<number>;
}

/**
 * Moleculer's Redis cacher, cleaning a service's entries without walking the
 * whole Redis keyspace.
 *
 * Its `clean("<service>.*")` SCANs every key of the database 100 at a time
 * to find the service's: with 200,000 other keys in Redis (rate limits,
 * login throttles, queued and finished jobs, carts) one clean took 2,000
 * round trips, 400–500 ms and about 140 ms of the Redis server's CPU,
 * however few entries the service had (decision 24).
 * The catalog cleans its cache up to once a second while stock changes, on
 * every catalog node.
 *
 * This cacher writes each entry together with its key's membership of the
 * service's index (`<prefix>~keys:<service>`) and, for a key
 * `<service>.<name>:<params>`, of that name's (`<prefix>~keys:<service>.<name>`),
 * in one script. It cleans a service, or one name of it
 * (`clean("catalog.listProducts:**")`), by deleting the keys the index names,
 * and the index, in one script: the cost follows the entries cleaned.
 * Cleaning a service also drops the name indexes of the entries it deletes.
 * An index is a sorted set scored by each entry's expiry: every write drops
 * the names of entries that have expired, so an index that is seldom cleaned
 * stays as large as the entries alive, not as all the keys ever cached.
 * Other patterns, and a Redis Cluster (one service's keys live on several of
 * its nodes), keep the SCAN. Entries written by a cacher without the index
 * (before an upgrade) are not in it: they live out their TTL.
 */
export class IndexedRedisCacher extends Cachers.Redis<Redis | Cluster> {
  /** Per index, the longest TTL its entries were given: the index lives at least as long. */
  private readonly longestTtlSec = new Map<string, number>();

  override init(broker: ServiceBroker): void {
    super.init(broker);
    if (this.client instanceof Cluster) return;
    // The number of keys is given on each call: an entry has one or two indexes.
    this.client.defineCommand("setIndexed", { lua: SET_INDEXED });
    this.client.defineCommand("deleteIndexed", { numberOfKeys: 1, lua: DELETE_INDEXED });
  }

  override set(key: string, data: unknown, ttl?: number): Promise<void> {
    const groups = groupsOf(key);
    if (!groups.length || this.client instanceof Cluster) return super.set(key, data, ttl);
    const seconds = ttl ?? (this.opts as { ttl?: number }).ttl ?? 0;
    const { serializer } = this as unknown as { serializer: { serialize(data: unknown): Buffer } };
    // 0 (no expiry) for an entry without one: then neither may its indexes expire.
    let longest = seconds;
    for (const group of groups)
      if (longest) longest = Math.max(longest, this.longestTtlSec.get(group) ?? 0);
    if (longest) for (const group of groups) this.longestTtlSec.set(group, longest);
    const indexes = groups.map((group) => this.indexOf(group));
    const write = () =>
      this.commands.setIndexed(
        1 + indexes.length,
        this.prefix + key,
        ...indexes,
        serializer.serialize(data),
        seconds,
        longest,
      );
    return this.measured(
      METRIC.MOLECULER_CACHER_SET_TOTAL,
      METRIC.MOLECULER_CACHER_SET_TIME,
      write,
    );
  }

  override clean(match: string | string[] = "*"): Promise<void> {
    // "catalog.*", "catalog.**" or "catalog.listProducts:**"; a versioned name ("v2.catalog.*") takes the SCAN.
    const group = typeof match === "string" ? indexedGroupOf(match) : undefined;
    if (!group || this.client instanceof Cluster) return super.clean(match);
    const remove = () =>
      this.commands.deleteIndexed(this.indexOf(group), `${this.prefix}${INDEX_PREFIX}`);
    return this.measured(
      METRIC.MOLECULER_CACHER_CLEAN_TOTAL,
      METRIC.MOLECULER_CACHER_CLEAN_TIME,
      remove,
    );
  }

  /** The entries, as the REPL's `cache keys` lists them: the indexes (of any version) are not entries. */
  override async getCacheKeys() {
    return (await super.getCacheKeys()).filter((entry) => !entry.key.startsWith("~"));
  }

  /** Counted and timed in the cacher metrics Moleculer's own set and clean report. */
  private measured(total: string, time: string, run: () => Promise<unknown>): Promise<void> {
    this.metrics.increment(total);
    const timeEnd = this.metrics.timer(time);
    return run()
      .then(() => undefined)
      .finally(timeEnd);
  }

  private get commands(): IndexedCommands {
    return this.client as unknown as IndexedCommands;
  }

  private indexOf(group: string): string {
    return `${this.prefix}${INDEX_PREFIX}${group}`;
  }
}

/** Entries are named `<service>.…`; the indexes start with "~" (before sorted sets: "~index:"). */
const INDEX_PREFIX = "~keys:";

/**
 * The indexes an entry is named in: "catalog.getProduct:…" → "catalog" and
 * "catalog.getProduct"; "catalog.tree" (no parameters) and a versioned name
 * ("v2.catalog.get:…", which only a scan cleans) → the first part alone.
 */
function groupsOf(key: string): string[] {
  const dot = key.indexOf(".");
  if (dot <= 0) return [];
  const service = key.slice(0, dot);
  const colon = key.indexOf(":", dot + 1);
  const name = colon > dot + 1 ? key.slice(dot + 1, colon) : "";
  return name && !name.includes(".") ? [service, key.slice(0, colon)] : [service];
}

/** The index that serves a clean pattern, or undefined when only a scan can. */
function indexedGroupOf(match: string): string | undefined {
  return (
    /^([^.*?[\]:]+)\.\*\*?$/.exec(match)?.[1] ??
    /^([^.*?[\]:]+\.[^.*?[\]:]+):\*\*?$/.exec(match)?.[1]
  );
}

/**
 * Writes the entry KEYS[1] (value ARGV[1], for ARGV[2] seconds, 0: no expiry)
 * and names it in the indexes KEYS[2..], scored by its expiry in ms (by the
 * server's clock), dropping the names that have expired. The indexes then
 * live ARGV[3] seconds (0: no expiry).
 */
const SET_INDEXED = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local expiresAt = '+inf'
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  expiresAt = now + tonumber(ARGV[2]) * 1000
else
  redis.call('SET', KEYS[1], ARGV[1])
end
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], expiresAt, KEYS[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. now)
  if tonumber(ARGV[3]) > 0 then
    redis.call('EXPIRE', KEYS[i], ARGV[3])
  else
    redis.call('PERSIST', KEYS[i])
  end
end
`;

/**
 * Deletes the keys the index KEYS[1] names, then the index; atomic, so no
 * write falls between. A service's index (no "." in its name) also takes
 * the name indexes of its entries (ARGV[1]: the indexes' key prefix), so
 * they do not keep naming deleted entries.
 */
const DELETE_INDEXED = `
local keys = redis.call('ZRANGE', KEYS[1], 0, -1)
for i = 1, #keys, 500 do
  redis.call('UNLINK', unpack(keys, i, math.min(i + 499, #keys)))
end
redis.call('DEL', KEYS[1])
local group = string.sub(KEYS[1], #ARGV[1] + 1)
if not string.find(group, '.', 1, true) then
  local entryPrefix = #ARGV[1] - #'${INDEX_PREFIX}'
  local named = {}
  for _, key in ipairs(keys) do
    local colon = string.find(key, ':', entryPrefix + 1, true)
    if colon then named[ARGV[1] .. string.sub(key, entryPrefix + 1, colon - 1)] = true end
  end
  for index in pairs(named) do redis.call('DEL', index) end
end
return #keys
`;
