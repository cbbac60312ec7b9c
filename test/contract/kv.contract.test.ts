import { MemoryKeyValueStore } from "../../lib/infra/kv/memory";
import type { KeyValueStore } from "../../lib/infra/kv/port";
import { RedisKeyValueStore } from "../../lib/infra/kv/redis";
import { adaptersFor, deleteRedisKeys, freshRedisPrefix, servers } from "../helpers/servers";
import { sleep, waitFor } from "../helpers/wait";

/** Short TTLs keep the suite fast; expiry is awaited by polling, never by a fixed sleep. */
const SHORT_TTL = 150;

describe.each(adaptersFor("redis"))("key-value store contract (%s)", (adapter) => {
  const prefix = freshRedisPrefix();
  let kv: KeyValueStore;

  beforeAll(() => {
    kv =
      adapter === "redis"
        ? new RedisKeyValueStore(servers.redis!, prefix)
        : new MemoryKeyValueStore(prefix);
  });

  afterAll(async () => {
    await kv.close();
    if (adapter === "redis") await deleteRedisKeys(servers.redis!, prefix);
  });

  it("names its adapter and answers ping", async () => {
    expect(kv.adapter).toBe(adapter === "redis" ? "redis" : "memory");
    expect(await kv.ping()).toBe(true);
  });

  it("gets, sets, overwrites and deletes", async () => {
    expect(await kv.get("plain")).toBeNull();
    await kv.set("plain", "one");
    expect(await kv.get("plain")).toBe("one");
    await kv.set("plain", "two");
    expect(await kv.get("plain")).toBe("two");
    await kv.del("plain");
    expect(await kv.get("plain")).toBeNull();
    await kv.del("never-set"); // deleting a missing key is not an error
  });

  it("expires a value after its TTL; a set without TTL clears an earlier one", async () => {
    await kv.set("ttl:short", "v", SHORT_TTL);
    await kv.set("ttl:cleared", "v", SHORT_TTL);
    await kv.set("ttl:cleared", "kept");
    expect(await kv.get("ttl:short")).toBe("v");

    await waitFor(async () => (await kv.get("ttl:short")) === null, { timeoutMs: 2000 });
    expect(await kv.get("ttl:cleared")).toBe("kept");
  });

  it("setIfAbsent sets only once, and again after expiry", async () => {
    expect(await kv.setIfAbsent("once", "first", SHORT_TTL)).toBe(true);
    expect(await kv.setIfAbsent("once", "second", SHORT_TTL)).toBe(false);
    expect(await kv.get("once")).toBe("first");

    await waitFor(async () => (await kv.get("once")) === null, { timeoutMs: 2000 });
    expect(await kv.setIfAbsent("once", "third", SHORT_TTL)).toBe(true);
  });

  it("setIfAbsent lets exactly one of 20 concurrent callers win", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => kv.setIfAbsent("race", `caller-${i}`, 5000)),
    );
    const winners = results.flatMap((won, i) => (won ? [i] : []));
    expect(winners).toHaveLength(1);
    expect(await kv.get("race")).toBe(`caller-${winners[0]}`);
  });

  it("increment counts within a window and starts over after it", async () => {
    const first = await kv.increment("hits", 300);
    const second = await kv.increment("hits", 300);
    const third = await kv.increment("hits", 300);
    expect([first.count, second.count, third.count]).toEqual([1, 2, 3]);
    expect(first.ttlMs).toBeGreaterThan(0);
    expect(first.ttlMs).toBeLessThanOrEqual(300);
    // The window is fixed: later hits do not extend it.
    expect(third.ttlMs).toBeLessThanOrEqual(first.ttlMs);

    await waitFor(async () => (await kv.get("hits")) === null, { timeoutMs: 2000 });
    const fresh = await kv.increment("hits", 300);
    expect(fresh.count).toBe(1);
    expect(fresh.ttlMs).toBeGreaterThan(200);
  });

  it("increment is atomic under concurrent callers", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => kv.increment("burst", 5000)),
    );
    const counts = results.map((r) => r.count).sort((a, b) => a - b);
    expect(counts).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it("tryLock is exclusive until released", async () => {
    const lock = await kv.tryLock("res", 5000);
    expect(lock).not.toBeNull();
    expect(lock!.key).toBe("res");
    expect(await kv.tryLock("res", 5000)).toBeNull();

    await lock!.release();
    const again = await kv.tryLock("res", 5000);
    expect(again).not.toBeNull();
    await again!.release();
  });

  it("a lock expires, and its old holder cannot release the new holder's lock", async () => {
    const stale = await kv.tryLock("lease", SHORT_TTL);
    expect(stale).not.toBeNull();

    const fresh = await waitFor(() => kv.tryLock("lease", 5000), { timeoutMs: 2000 });
    await stale!.release(); // too late: must be a no-op
    expect(await kv.tryLock("lease", 5000)).toBeNull();

    await fresh.release();
    const next = await kv.tryLock("lease", 5000);
    expect(next).not.toBeNull();
    await next!.release();
  });

  it("withLock runs 10 concurrent critical sections one at a time", async () => {
    let inside = 0;
    let maxInside = 0;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        kv.withLock(
          "serial",
          5000,
          async () => {
            inside++;
            maxInside = Math.max(maxInside, inside);
            await sleep(5);
            inside--;
            return i;
          },
          5000,
        ),
      ),
    );
    expect(results).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(maxInside).toBe(1);
    expect(await kv.tryLock("serial", 1000)).not.toBeNull(); // released at the end
  });

  it("withLock gives up after waitMs without running fn, and releases when fn throws", async () => {
    const held = await kv.tryLock("busy", 5000);
    const fn = jest.fn(async () => "ran");
    await expect(kv.withLock("busy", 5000, fn, 50)).rejects.toThrow(/held elsewhere/);
    expect(fn).not.toHaveBeenCalled();
    await held!.release();

    await expect(
      kv.withLock("busy", 5000, async () => {
        throw new Error("inside");
      }),
    ).rejects.toThrow("inside");
    expect(await kv.tryLock("busy", 1000)).not.toBeNull();
  });
});

describe("RedisKeyValueStore without a reachable server", () => {
  let kv: RedisKeyValueStore;
  let warn: jest.SpyInstance;

  beforeAll(() => {
    warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
    // Port 1 refuses connections at once: this needs no server and runs everywhere.
    kv = new RedisKeyValueStore("redis://127.0.0.1:1", freshRedisPrefix());
  });
  afterAll(async () => {
    await kv.close();
    warn.mockRestore();
  });

  it("ping resolves false within about two seconds", async () => {
    const started = Date.now();
    expect(await kv.ping()).toBe(false);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it("commands fail instead of hanging, and the outage is logged once", async () => {
    await expect(kv.get("anything")).rejects.toThrow();
    expect(warn).toHaveBeenCalledTimes(1);
  });
});
