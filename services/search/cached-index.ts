import type { StockLevel } from "../../lib/contracts/catalog";
import type {
  ProductRemoval,
  SearchDocument,
  SearchIndex,
  SearchQuery,
  SearchResult,
  Suggestion,
  WriteOutcome,
} from "./index-port";

/**
 * Popular queries repeat: this decorator answers a query it answered less
 * than `ttlMs` ago from memory, and concurrent identical queries share one
 * computation, which keeps fuzzy matching and facet counting off the hot path
 * under load. Every write to the index empties the memo, so a change is
 * searchable as soon as it is indexed. It sits behind parameter validation
 * (in the action), unlike Moleculer's action cache.
 */
export class CachedSearchIndex implements SearchIndex {
  private readonly results = new Map<string, { at: number; value: Promise<unknown> }>();

  constructor(
    private readonly inner: SearchIndex,
    private readonly ttlMs = 1000,
    private readonly maxEntries = 1000,
  ) {}

  get adapter(): string {
    return this.inner.adapter;
  }

  query(query: SearchQuery): Promise<SearchResult> {
    return this.remember(`q:${JSON.stringify(query)}`, () => this.inner.query(query));
  }

  suggest(prefix: string, limit: number): Promise<Suggestion[]> {
    return this.remember(`s:${limit}:${prefix}`, () => this.inner.suggest(prefix, limit));
  }

  upsert(docs: readonly SearchDocument[]): Promise<WriteOutcome> {
    return this.write(() => this.inner.upsert(docs));
  }

  remove(removals: readonly ProductRemoval[]): Promise<WriteOutcome> {
    return this.write(() => this.inner.remove(removals));
  }

  applyStock(levels: readonly StockLevel[]): Promise<WriteOutcome> {
    return this.write(() => this.inner.applyStock(levels));
  }

  clear(): Promise<void> {
    return this.write(() => this.inner.clear());
  }

  open(): Promise<void> {
    return this.inner.open();
  }
  count(): Promise<number> {
    return this.inner.count();
  }
  ping(): Promise<boolean> {
    return this.inner.ping();
  }
  close(): Promise<void> {
    this.results.clear();
    return this.inner.close();
  }

  private remember<T>(key: string, compute: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = this.results.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.value as Promise<T>;
    if (this.results.size >= this.maxEntries) this.results.clear();
    const value = compute();
    this.results.set(key, { at: now, value });
    // A failed query is not remembered.
    value.catch(() => this.results.get(key)?.value === value && this.results.delete(key));
    return value;
  }

  private async write<T>(apply: () => Promise<T>): Promise<T> {
    try {
      return await apply();
    } finally {
      this.results.clear();
    }
  }
}
