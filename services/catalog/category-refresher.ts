import { productUpdated } from "./catalog-events";
import { CategoryTree } from "./domain/category-tree";
import { toSnapshot } from "./domain/product";
import type { CatalogDependencies } from "./use-case-support";

/**
 * Works through category refreshes: after a category is renamed or moved,
 * every product of its subtree gets version + 1 and a ProductUpdated with
 * its new categoryName / categoryPath, BATCH products per transaction (each
 * with its outbox rows and the refresh's cursor), so a large subtree neither
 * holds one long transaction nor loses its place when the node dies: any
 * node resumes an unfinished refresh (at start and every POLL_MS). The
 * refresh row is locked for each batch, so nodes working on the same one
 * take turns instead of repeating each other.
 */
export const REFRESH_BATCH = 200;
const POLL_MS = 5000;
const PENDING_PER_POLL = 20;

export interface RefresherLogger {
  error(...args: unknown[]): void;
}

export class CategoryRefresher {
  private running?: Promise<void>;
  private again = false;
  private timer?: NodeJS.Timeout;
  private stopped = true;
  private readonly now: () => Date;

  constructor(
    private readonly deps: CatalogDependencies,
    private readonly logger: RefresherLogger,
  ) {
    this.now = deps.clock ?? (() => new Date());
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), POLL_MS);
    this.timer.unref();
    this.kick();
  }

  /** Stops polling and waits for the batch in progress; the rest waits for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Runs every unfinished refresh now (calls during a run make it go round once more). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.runPending();
      } while (this.again && !this.stopped);
    })()
      .catch((err) => this.logger.error("Category refresh failed; retried on the next poll", err))
      .finally(() => (this.running = undefined));
  }

  /** Resolves once the current run (if any) is over: for tests and stop(). */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async runPending(): Promise<void> {
    for (;;) {
      const ids = await this.deps.repository.unfinishedRefreshIds(PENDING_PER_POLL);
      if (!ids.length) return;
      for (const id of ids) {
        while (!this.stopped && (await this.runBatch(id)) === "more") {
          /* next batch */
        }
        if (this.stopped) return;
      }
    }
  }

  private async runBatch(refreshId: string): Promise<"more" | "done"> {
    const { repository, outbox, database } = this.deps;
    const outcome = await database.transaction(async (tx) => {
      const refresh = await repository.lockRefresh(refreshId, tx);
      if (!refresh || refresh.finishedAt) return { state: "done" as const, published: 0 };
      const tree = new CategoryTree(await repository.loadCategories(tx));
      const ids = await repository.productIdsInCategories(
        tree.subtreeIds(refresh.categoryId),
        refresh.afterProductId,
        REFRESH_BATCH,
        tx,
      );
      const now = this.now();
      await repository.bumpVersions(ids, now, tx);
      const products = await repository.findProducts(ids, tx);
      products.sort((a, b) => (a.id < b.id ? -1 : 1));
      for (const product of products)
        await outbox.enqueue(tx, productUpdated(toSnapshot(product, tree)));
      const full = ids.length === REFRESH_BATCH;
      await repository.advanceRefresh(
        refreshId,
        {
          afterProductId: ids.at(-1) ?? refresh.afterProductId,
          updatedAt: now,
          finishedAt: full ? null : now,
        },
        tx,
      );
      return { state: full ? ("more" as const) : ("done" as const), published: ids.length };
    });
    if (outcome.published) await this.deps.changed();
    return outcome.state;
  }
}
