import { ServiceBroker } from "moleculer";
import type { ProductSnapshot } from "../../../lib/contracts/catalog";
import { cacherOptions } from "../../../lib/infra/cache";
import { loadConfig } from "../../../lib/config";
import { SnapshotCache } from "../../../services/catalog/snapshot-cache";

/**
 * Snapshots cached one product at a time, in the embedded cacher the node
 * uses: a list never asked before is put together from what is cached, and
 * only the rest is read.
 */
function snapshot(id: string, name = `Product ${id}`): ProductSnapshot {
  return { id, name } as ProductSnapshot;
}

describe("SnapshotCache", () => {
  const broker = new ServiceBroker({
    logger: false,
    cacher: cacherOptions(loadConfig({ REDIS_URL: "" })),
  });
  let shelf: Map<string, ProductSnapshot>;
  let loads: string[][];
  const load = async (ids: string[]) => {
    loads.push(ids);
    return ids.flatMap((id) => shelf.get(id) ?? []);
  };
  const cache = new SnapshotCache(broker.cacher, "catalog", 60);

  beforeEach(async () => {
    await broker.cacher!.clean();
    shelf = new Map(["a", "b", "c"].map((id) => [id, snapshot(id)]));
    loads = [];
  });

  it("reads only the products of a new list it has not cached, and answers in the order asked", async () => {
    expect((await cache.snapshots(["a", "b"], load)).map((p) => p.id)).toEqual(["a", "b"]);
    // A cart that gained a line: a list never asked before.
    const three = await cache.snapshots(["C", "a", "missing", "b", "a"], load);
    expect(three.map((p) => p.id)).toEqual(["c", "a", "b"]);
    expect(loads).toEqual([
      ["a", "b"],
      ["c", "missing"],
    ]);
  });

  it("reads a product again once the catalog's cache was cleaned", async () => {
    await cache.snapshots(["a"], load);
    shelf.set("a", snapshot("a", "Renamed"));
    expect((await cache.snapshots(["a"], load))[0].name).toBe("Product a");
    await broker.cacher!.clean("catalog.**");
    expect((await cache.snapshots(["a"], load))[0].name).toBe("Renamed");
    expect(loads).toEqual([["a"], ["a"]]);
  });

  it("reads from the database when the cacher fails, or when there is none", async () => {
    const failing = {
      get: () => Promise.reject(new Error("cache down")),
      set: () => Promise.reject(new Error("cache down")),
    };
    const broken = new SnapshotCache(failing, "catalog", 60);
    expect((await broken.snapshots(["b", "a"], load)).map((p) => p.id)).toEqual(["b", "a"]);
    const none = new SnapshotCache(undefined, "catalog", 60);
    expect((await none.snapshots(["A"], load)).map((p) => p.id)).toEqual(["a"]);
    expect(loads).toEqual([["b", "a"], ["a"]]);
  });
});
