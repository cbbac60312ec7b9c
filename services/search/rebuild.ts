import type { ProductSnapshot, StockLevel } from "../../lib/contracts/catalog";
import { ProductRemoval, SearchDocument, SearchIndex, toSearchDocument } from "./index-port";

/**
 * A full reindex from the catalog: pages through `catalog.export` (active
 * products), asks inventory for each page's stock, and then writes both with
 * their versions. Events applied meanwhile keep winning over older snapshot data,
 * because the index ignores anything not newer than what it holds. Products
 * the export no longer contains but the index still holds (missed archive
 * events) stay until their next event, unless the rebuild starts with a
 * cleared index (`clear: true`).
 */

/** What `catalog.export` answers. `total`, when the catalog gives it, makes progress a percentage. */
export interface CatalogExportPage {
  items: ProductSnapshot[];
  nextCursor?: string | null;
  total?: number;
}

export interface RebuildSource {
  exportPage(cursor: string | undefined): Promise<CatalogExportPage>;
  stockLevels(productIds: string[]): Promise<StockLevel[]>;
}

export interface RebuildResult {
  /** Active products read from the catalog and written (or found already newer). */
  indexed: number;
  tookMs: number;
}

export interface RebuildProgress {
  indexed: number;
  total?: number;
  /** 10, 20, … when total is known. */
  percent?: number;
}

export async function rebuildIndex(
  index: SearchIndex,
  source: RebuildSource,
  onProgress: (p: RebuildProgress) => void = () => {},
): Promise<RebuildResult> {
  const started = Date.now();
  let cursor: string | undefined;
  let indexed = 0;
  let reportedTenth = 0;
  const seenCursors = new Set<string>();
  for (;;) {
    const page = await source.exportPage(cursor);
    const docs: SearchDocument[] = [];
    const removals: ProductRemoval[] = [];
    for (const product of page.items) {
      const doc = toSearchDocument(product);
      if (doc) docs.push(doc);
      else removals.push({ id: product.id, productVersion: product.version });
    }
    // Stock is asked for before the page is written: a product added to the index while
    // inventory answers would show, to anyone searching meanwhile, as out of stock.
    const ids = page.items.map((p) => p.id);
    const levels = ids.length ? await source.stockLevels(ids) : [];
    if (docs.length) await index.upsert(docs);
    if (removals.length) await index.remove(removals);
    if (levels.length) await index.applyStock(levels);
    indexed += docs.length;

    if (page.total) {
      const tenth = Math.min(10, Math.floor((indexed / page.total) * 10));
      if (tenth > reportedTenth) {
        reportedTenth = tenth;
        onProgress({ indexed, total: page.total, percent: tenth * 10 });
      }
    } else if (page.items.length) {
      onProgress({ indexed });
    }

    const next = page.nextCursor ?? undefined;
    if (!next || !page.items.length) break;
    if (seenCursors.has(next)) throw new Error(`catalog.export returned cursor "${next}" twice`);
    seenCursors.add(next);
    cursor = next;
  }
  return { indexed, tookMs: Date.now() - started };
}

export type RebuildState =
  | { state: "never" }
  | { state: "running"; startedAt: string }
  | { state: "done"; startedAt: string; finishedAt: string; indexed: number; tookMs: number }
  | { state: "failed"; startedAt: string; finishedAt: string; error: string };

/** One rebuild at a time: a request while one runs waits for that one's result. */
export class RebuildRunner {
  private running?: Promise<RebuildResult>;
  private current: RebuildState = { state: "never" };

  get status(): RebuildState {
    return this.current;
  }

  get isRunning(): boolean {
    return this.running !== undefined;
  }

  start(run: () => Promise<RebuildResult>): Promise<RebuildResult> {
    this.running ??= this.execute(run).finally(() => (this.running = undefined));
    return this.running;
  }

  private async execute(run: () => Promise<RebuildResult>): Promise<RebuildResult> {
    const startedAt = new Date().toISOString();
    this.current = { state: "running", startedAt };
    try {
      const result = await run();
      this.current = { state: "done", startedAt, finishedAt: new Date().toISOString(), ...result };
      return result;
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.current = { state: "failed", startedAt, finishedAt: new Date().toISOString(), error };
      throw err;
    }
  }
}
