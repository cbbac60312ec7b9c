import type { Transaction } from "sequelize";
import { BoundedMap } from "../../lib/bounded-map";
import type { StockLevel } from "../../lib/contracts/catalog";
import { EventTypes } from "../../lib/messaging/topics";
import type { OutboxMessageInput } from "../../lib/messaging/outbox";
import type { InventoryOutbox } from "./inventory-events";

/** Products read again in one background query at most (an IN list). */
const REFRESH_BATCH = 500;

/**
 * Recent stock levels, for readers that accept a level a little old: a cart
 * shows "3 left" on every view and add, and a query per line per request
 * was most of what those requests cost. Reservations never read it (they
 * lock the row), so it can make a displayed level late, never an order
 * wrong.
 *
 * How late:
 *  - a stock change committed on this node forgets its product at once, and
 *    a read of that product under way then keeps nothing and is joined by no
 *    later reader, so with one inventory node a reader never sees a level
 *    older than the last commit before it asked;
 *  - a change committed on another inventory node is seen once the entry is
 *    older than what the reader accepts (`maxAgeMs`).
 */
export class LevelMemo {
  /** Oldest first: a refreshed entry is set again, so it moves to the end. */
  private readonly entries: BoundedMap<string, { level: StockLevel; at: number }>;
  /**
   * Reads under way, per product: a burst of misses of one product makes one
   * query. A forget removes the product's, so a read finds out at its end
   * whether its product was forgotten meanwhile (then it keeps nothing).
   */
  private readonly loading = new Map<string, Promise<StockLevel>>();
  /** Products to read again in the background, in one query when the timer fires. */
  private readonly refreshes = new Set<string>();
  private refreshLoad?: (ids: string[]) => Promise<StockLevel[]>;
  private refreshTimer?: NodeJS.Timeout;

  /**
   * @param refreshDelayMs how long background reads gather before their one
   *   query: a cart of five lines asks for five levels, and a query per
   *   request for whatever of them had aged was a query every few requests.
   */
  constructor(
    maxEntries = 50_000,
    private readonly now: () => number = Date.now,
    private readonly refreshDelayMs = 20,
  ) {
    this.entries = new BoundedMap(maxEntries);
  }

  /**
   * Levels of `ids` no older than `maxAgeMs`, loading the rest with `load`
   * (in the order asked). One past half that age is answered and read again
   * in the background (refreshSoon).
   */
  async levels(
    ids: readonly string[],
    maxAgeMs: number,
    load: (ids: string[]) => Promise<StockLevel[]>,
  ): Promise<StockLevel[]> {
    const now = this.now();
    const found = new Map<string, StockLevel>();
    const joined: Promise<void>[] = [];
    const missing: string[] = [];
    const ageing: string[] = [];
    for (const id of ids) {
      const entry = this.entries.get(id);
      const underWay = this.loading.get(id);
      if (entry && now - entry.at <= maxAgeMs) {
        found.set(id, entry.level);
        if (now - entry.at > maxAgeMs / 2 && !underWay) ageing.push(id);
      } else if (underWay) joined.push(underWay.then((level) => void found.set(id, level)));
      else missing.push(id);
    }
    // Read again, without waiting, what is past half its age: a product read often never
    // expires, so its readers never wait on the database (a miss waited 30–40 ms under load).
    if (ageing.length) this.refreshSoon(ageing, load);
    if (missing.length) await this.load(missing, now, load, found);
    await Promise.all(joined);
    // Copies: a caller in this process must not be able to change what the next one reads.
    return ids.map((id) => ({ ...found.get(id)! }));
  }

  /**
   * Queues `ids` for one background query with the others queued within
   * refreshDelayMs (read with the loader of the last reader that queued one:
   * the readers of one memo load the same way).
   */
  private refreshSoon(ids: string[], load: (ids: string[]) => Promise<StockLevel[]>): void {
    for (const id of ids) this.refreshes.add(id);
    this.refreshLoad = load;
    this.refreshTimer ??= setTimeout(() => {
      this.refreshTimer = undefined;
      const queued = [...this.refreshes].filter((id) => !this.loading.has(id));
      const loader = this.refreshLoad!;
      this.refreshes.clear();
      // A failure is left to the next reader's query.
      for (let i = 0; i < queued.length; i += REFRESH_BATCH)
        this.load(queued.slice(i, i + REFRESH_BATCH), this.now(), loader, new Map()).catch(
          () => undefined,
        );
    }, this.refreshDelayMs);
    this.refreshTimer.unref();
  }

  private async load(
    ids: string[],
    now: number,
    load: (ids: string[]) => Promise<StockLevel[]>,
    found: Map<string, StockLevel>,
  ): Promise<void> {
    const batch = load(ids).then((levels) => new Map(levels.map((l) => [l.productId, l])));
    const perId = new Map(ids.map((id) => [id, batch.then((levels) => levels.get(id)!)]));
    for (const [id, level] of perId) {
      level.catch(() => undefined); // the caller below sees the failure; joiners see their own
      this.loading.set(id, level);
    }
    try {
      for (const [id, level] of await batch) {
        found.set(id, level);
        // Still this read's: its product was not forgotten while it ran.
        if (this.loading.get(id) === perId.get(id)) this.remember(level, now);
      }
    } finally {
      for (const [id, level] of perId) if (this.loading.get(id) === level) this.loading.delete(id);
    }
  }

  /** A change of this product's stock was committed here. */
  forget(productId: string): void {
    this.entries.delete(productId);
    // A read under way may have missed the change: it keeps nothing, later readers start their own.
    this.loading.delete(productId);
  }

  get size(): number {
    return this.entries.size;
  }

  private remember(level: StockLevel, at: number): void {
    this.entries.set(level.productId, { level, at });
  }
}

/**
 * The outbox the inventory use-cases write to, telling `memo` of every
 * StockChanged once its transaction commits. Every change of a stock row
 * announces StockChanged in the transaction that made it, so no change can
 * go by without forgetting its product.
 */
export function forgettingOnCommit(outbox: InventoryOutbox, memo: LevelMemo): InventoryOutbox {
  const forgetAfterCommit = (tx: Transaction, messages: readonly OutboxMessageInput[]) => {
    for (const message of messages) {
      if (message.type !== EventTypes.StockChanged) continue;
      const productId = message.aggregateId;
      tx.afterCommit(() => memo.forget(productId));
    }
  };
  return {
    async enqueue(tx, message, origin) {
      const id = await outbox.enqueue(tx, message, origin);
      forgetAfterCommit(tx, [message]);
      return id;
    },
    async enqueueAll(tx, messages, origin) {
      const ids = await outbox.enqueueAll(tx, messages, origin);
      forgetAfterCommit(tx, messages);
      return ids;
    },
  };
}
