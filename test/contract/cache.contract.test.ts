import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Redis from "ioredis";
import { Cachers, Context, ServiceBroker, ServiceSchema } from "moleculer";
import { buildBrokerOptions } from "../../lib/broker";
import { loadConfig } from "../../lib/config";
import {
  adaptersFor,
  deleteRedisKeys,
  freshRedisPrefix,
  servers,
  uniqueName,
} from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The action cache (lib/infra/cache.ts): Moleculer's memory cacher when
 * REDIS_URL is unset, its Redis cacher (shared by every node) when set.
 * Services cache reads with `cache: { keys: [...] }` and invalidate with
 * `broker.cacher.clean("<service>.*")` when their data changes.
 */

/** Seconds cacherOptions gives an entry whose action sets no ttl. */
const DEFAULT_TTL_SEC = 300;

interface Priced {
  id: string;
  computation: number;
}

describe.each(adaptersFor("redis"))("action cache contract (%s)", (adapter) => {
  const prefix = freshRedisPrefix();
  let dataDir: string;
  let broker: ServiceBroker;
  /** Every handler run, as `<action>:<id>`. */
  let computed: string[];

  /** A service whose cached actions record each time they really run. */
  function cachedService(name: string): ServiceSchema {
    const handler = (action: string) => (ctx: Context<{ id: string }>) => {
      computed.push(`${action}:${ctx.params.id}`);
      return { id: ctx.params.id, computation: computed.length } satisfies Priced;
    };
    return {
      name,
      actions: {
        get: { cache: { keys: ["id"] }, params: { id: "string" }, handler: handler(`${name}.get`) },
        brief: {
          cache: { keys: ["id"], ttl: 1 },
          params: { id: "string" },
          handler: handler(`${name}.brief`),
        },
      },
    };
  }

  const call = (action: string, id: string) => broker.call<Priced, { id: string }>(action, { id });
  const runs = (action: string, id: string) =>
    computed.filter((c) => c === `${action}:${id}`).length;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cache-contract-"));
    const env: Record<string, string> = {
      LOG_LEVEL: "warn",
      SQLITE_STORAGE: ":memory:",
      DATA_DIR: dataDir,
      NODE_ID: uniqueName("cache"),
    };
    if (adapter === "redis")
      Object.assign(env, { REDIS_URL: servers.redis!, REDIS_PREFIX: prefix });
    broker = new ServiceBroker(
      buildBrokerOptions(loadConfig(env), { namespace: uniqueName("ns") }),
    );
    broker.createService(cachedService("pricing"));
    broker.createService(cachedService("stock"));
    await broker.start();
    if (adapter === "redis") {
      // Until its client is ready the Redis cacher calls handlers without caching.
      const client = (broker.cacher as unknown as { client: Redis }).client;
      await waitFor(() => client.status === "ready" && broker.cacher!.connected === true);
    }
  });

  beforeEach(async () => {
    computed = [];
    await broker.cacher!.clean();
  });

  afterAll(async () => {
    await broker.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (adapter === "redis") await deleteRedisKeys(servers.redis!, prefix);
  });

  it("uses the cacher the configuration names", () => {
    expect(broker.cacher).toBeInstanceOf(adapter === "redis" ? Cachers.Redis : Cachers.Memory);
  });

  it("computes once per id: repeated calls are served from the cache", async () => {
    const first = await call("pricing.get", "a");
    expect(await call("pricing.get", "a")).toEqual(first);
    expect(await call("pricing.get", "a")).toEqual(first);
    expect(runs("pricing.get", "a")).toBe(1);

    const other = await call("pricing.get", "b");
    expect(other.id).toBe("b");
    expect(other.computation).not.toBe(first.computation);
    expect(runs("pricing.get", "b")).toBe(1);
    expect(await call("pricing.get", "b")).toEqual(other);
    expect(computed).toEqual(["pricing.get:a", "pricing.get:b"]);
  });

  it("never lets a caller change what the next caller reads", async () => {
    const first = await call("pricing.get", "m");
    const cached = await call("pricing.get", "m");
    const original = { ...cached };
    // The embedded cacher shares one frozen entry (a write throws); Redis hands out a new copy.
    try {
      cached.computation = -1;
    } catch (err) {
      expect(err).toBeInstanceOf(TypeError);
    }
    expect(await call("pricing.get", "m")).toEqual(original);
    expect(original.computation).toBe(first.computation);
    expect(runs("pricing.get", "m")).toBe(1);
  });

  it('clean("<service>.*") makes that service recompute, and only that service', async () => {
    const before = await call("pricing.get", "a");
    await call("stock.get", "a");

    await broker.cacher!.clean("pricing.*");

    const after = await call("pricing.get", "a");
    expect(after.computation).not.toBe(before.computation);
    expect(runs("pricing.get", "a")).toBe(2);
    await call("stock.get", "a");
    expect(runs("stock.get", "a")).toBe(1);
  });

  it('clean("<service>.*") also removes what the service\'s own code cached', async () => {
    await broker.cacher!.set("pricing.snapshot:a", { id: "a" }, 60);
    await broker.cacher!.set("stock.snapshot:a", { id: "a" }, 60);

    await broker.cacher!.clean("pricing.**");

    // A miss: undefined from the memory cacher, null from Redis.
    expect((await broker.cacher!.get("pricing.snapshot:a")) ?? null).toBeNull();
    expect(await broker.cacher!.get("stock.snapshot:a")).toEqual({ id: "a" });
  });

  it('clean("<service>.<action>:**") makes that action recompute, and nothing else', async () => {
    const before = await call("pricing.get", "a");
    await call("stock.get", "a");
    await broker.cacher!.set("pricing.snapshot:a", { id: "a" }, 60);

    await broker.cacher!.clean("pricing.get:**");

    expect((await call("pricing.get", "a")).computation).not.toBe(before.computation);
    expect(runs("pricing.get", "a")).toBe(2);
    await call("stock.get", "a");
    expect(runs("stock.get", "a")).toBe(1);
    expect(await broker.cacher!.get("pricing.snapshot:a")).toEqual({ id: "a" });
  });

  if (adapter === "redis")
    it("cleans a service without walking the rest of the Redis keyspace", async () => {
      const redis = new Redis(servers.redis!);
      const scans = async () =>
        Number(/cmdstat_scan:calls=(\d+)/.exec(await redis.info("commandstats"))?.[1] ?? 0);
      try {
        // Keys of everything else a deployment keeps in Redis: sessions, rate limits, jobs.
        const others = redis.pipeline();
        for (let i = 0; i < 20_000; i++) others.set(`${prefix}other:${i}`, "x", "EX", 120);
        await others.exec();
        for (const id of ["a", "b", "c"]) await call("pricing.get", id);
        const index = `${prefix}cache-~keys:pricing`;
        expect(await redis.ttl(index)).toBeGreaterThan(DEFAULT_TTL_SEC - 10);

        const scansBefore = await scans();
        await broker.cacher!.clean("pricing.*");
        expect(await scans()).toBe(scansBefore);

        for (const id of ["a", "b", "c"]) await call("pricing.get", id);
        expect(["a", "b", "c"].map((id) => runs("pricing.get", id))).toEqual([2, 2, 2]);
        // The index went with the entries, and names only the ones cached since.
        expect(await redis.zcard(index)).toBe(3);
        // It is not an entry: the REPL's `cache keys` lists the entries alone.
        const listed = (await broker.cacher!.getCacheKeys()).map((k: { key: string }) => k.key);
        expect(listed.filter((k: string) => k.startsWith("pricing.")).length).toBe(3);
        expect(listed.some((k: string) => k.includes("~keys:"))).toBe(false);
      } finally {
        await deleteRedisKeys(servers.redis!, `${prefix}other:`);
        redis.disconnect();
      }
    });

  if (adapter === "redis")
    it("cleans one action by its own index, and a service clean drops the action indexes", async () => {
      const redis = new Redis(servers.redis!);
      const scans = async () =>
        Number(/cmdstat_scan:calls=(\d+)/.exec(await redis.info("commandstats"))?.[1] ?? 0);
      const actionIndex = `${prefix}cache-~keys:pricing.get`;
      try {
        for (const id of ["a", "b"]) await call("pricing.get", id);
        await call("stock.get", "a");
        expect(await redis.zcard(actionIndex)).toBe(2);
        expect(await redis.ttl(actionIndex)).toBeGreaterThan(DEFAULT_TTL_SEC - 10);

        const scansBefore = await scans();
        await broker.cacher!.clean("pricing.get:**");
        expect(await scans()).toBe(scansBefore);
        expect(await redis.exists(actionIndex)).toBe(0);
        for (const id of ["a", "b"]) await call("pricing.get", id);
        expect(["a", "b"].map((id) => runs("pricing.get", id))).toEqual([2, 2]);
        await call("stock.get", "a");
        expect(runs("stock.get", "a")).toBe(1);

        // The service's clean deletes the entries, and the action index that named them.
        expect(await redis.zcard(actionIndex)).toBe(2);
        await broker.cacher!.clean("pricing.**");
        expect(await redis.exists(actionIndex)).toBe(0);
        expect(await redis.exists(`${prefix}cache-~keys:stock.get`)).toBe(1);
        await call("pricing.get", "a");
        expect(runs("pricing.get", "a")).toBe(3);
      } finally {
        redis.disconnect();
      }
    });

  if (adapter === "redis")
    it("keeps in an index only the entries that have not expired", async () => {
      const redis = new Redis(servers.redis!);
      const serviceIndex = `${prefix}cache-~keys:pricing`;
      const actionIndex = `${prefix}cache-~keys:pricing.snapshot`;
      try {
        for (const id of ["a", "b", "c"])
          await broker.cacher!.set(`pricing.snapshot:${id}`, { id }, 1);
        await broker.cacher!.set("pricing.snapshot:kept", { id: "kept" }, 60);
        expect([await redis.zcard(serviceIndex), await redis.zcard(actionIndex)]).toEqual([4, 4]);

        await new Promise((resolve) => setTimeout(resolve, 1100));
        // The next write drops the names of the three that expired.
        await broker.cacher!.set("pricing.snapshot:d", { id: "d" }, 60);
        for (const index of [serviceIndex, actionIndex])
          expect((await redis.zrange(index, 0, -1)).sort()).toEqual([
            `${prefix}cache-pricing.snapshot:d`,
            `${prefix}cache-pricing.snapshot:kept`,
          ]);
      } finally {
        redis.disconnect();
      }
    });

  it("keeps an entry for the configured default TTL when the action sets none", async () => {
    await call("pricing.get", "ttl");
    const keys = (await broker.cacher!.getCacheKeys()).map((k: { key: string }) => k.key);
    const key = keys.find((k: string) => k.startsWith("pricing.get:"));
    expect(key).toBeDefined();
    const entry = (await broker.cacher!.getWithTTL(key!)) as { ttl: number | null };
    expect(entry.ttl).toBeGreaterThan(DEFAULT_TTL_SEC - 10);
    expect(entry.ttl).toBeLessThanOrEqual(DEFAULT_TTL_SEC);
    if (adapter === "redis") {
      // Shared through Redis, under the deployment's REDIS_PREFIX.
      const redis = new Redis(servers.redis!);
      try {
        expect(await redis.exists(`${prefix}cache-${key}`)).toBe(1);
      } finally {
        redis.disconnect();
      }
    }
  });

  it("expires an entry after the TTL set on the action", async () => {
    const cachedAt = Date.now();
    const first = await call("pricing.brief", "a");
    expect(await call("pricing.brief", "a")).toEqual(first);
    expect(runs("pricing.brief", "a")).toBe(1);

    // ttl: 1 (second). Polling calls the action; until expiry each is a cache hit.
    await waitFor(
      async () => (await call("pricing.brief", "a")).computation !== first.computation,
      {
        timeoutMs: 3000,
        intervalMs: 50,
      },
    );
    expect(Date.now() - cachedAt).toBeGreaterThanOrEqual(900);
    expect(runs("pricing.brief", "a")).toBe(2);
  });
});
