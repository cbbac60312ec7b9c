import type { CategoryTree } from "./domain/category-tree";

/**
 * The category tree for reads, loaded once and shared until the catalog
 * changes: every product read needs it (category path and name), and
 * loading it per read cost two queries and a rebuild. Writes keep loading
 * their own tree inside their transaction. `invalidate` runs with every cache
 * clean (local changes and other nodes' broadcasts); `maxAgeMs` bounds how
 * long a node that missed a broadcast serves an old tree.
 */
export class CategoryTreeMemo {
  private current?: { tree: Promise<CategoryTree>; loadedAt: number };

  constructor(
    private readonly load: () => Promise<CategoryTree>,
    private readonly maxAgeMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Promise<CategoryTree> {
    const current = this.current;
    if (current && this.now() - current.loadedAt < this.maxAgeMs) return current.tree;
    const entry = { tree: this.load(), loadedAt: this.now() };
    this.current = entry;
    // A failed load is not kept: the next read tries again.
    entry.tree.catch(() => {
      if (this.current === entry) this.current = undefined;
    });
    return entry.tree;
  }

  invalidate(): void {
    this.current = undefined;
  }
}
