import type { ProductSnapshot } from "../../lib/contracts/catalog";

/** The part of a Moleculer cacher this uses. */
interface Cacher {
  get(key: string): Promise<unknown>;
  set(key: string, data: unknown, ttl?: number): Promise<unknown>;
}

/**
 * Product snapshots cached one product at a time, under the list-keyed cache
 * of `catalog.getMany`: a cart asks for the products it holds, and every
 * item added makes a list the list-keyed cache has not seen, so without
 * this each add read all of the cart's products from the database again.
 * Entries are `<service>.snapshot:<id>`, cleaned with the rest of
 * `<service>.**` on every change (a stock change leaves them: a snapshot
 * carries no availability), and live `ttlSec` at most.
 */
export class SnapshotCache {
  constructor(
    private readonly cacher: Cacher | undefined,
    private readonly service: string,
    private readonly ttlSec: number,
  ) {}

  /**
   * The snapshots of `ids` (lower-cased, first occurrence kept, unknown ids
   * left out) in the order asked; those not cached are loaded with `load` in
   * one call. A cacher that fails counts as a miss.
   */
  async snapshots(
    ids: readonly string[],
    load: (ids: string[]) => Promise<ProductSnapshot[]>,
  ): Promise<ProductSnapshot[]> {
    const wanted = [...new Set(ids.map((id) => id.toLowerCase()))];
    const cacher = this.cacher;
    if (!cacher) return load(wanted);
    const cached = await Promise.all(
      wanted.map((id) =>
        cacher.get(this.key(id)).then(
          (entry) => (entry ?? undefined) as ProductSnapshot | undefined,
          () => undefined,
        ),
      ),
    );
    const found = new Map<string, ProductSnapshot>();
    for (const [i, id] of wanted.entries()) {
      const entry = cached[i];
      if (entry) found.set(id, entry);
    }
    const missing = wanted.filter((id) => !found.has(id));
    if (missing.length) {
      const loaded = await load(missing);
      for (const snapshot of loaded) found.set(snapshot.id, snapshot);
      await Promise.all(
        loaded.map((snapshot) =>
          cacher.set(this.key(snapshot.id), snapshot, this.ttlSec).catch(() => undefined),
        ),
      );
    }
    return wanted.flatMap((id) => found.get(id) ?? []);
  }

  private key(id: string): string {
    return `${this.service}.snapshot:${id}`;
  }
}
