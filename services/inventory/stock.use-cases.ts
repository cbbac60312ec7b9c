import type { Transaction } from "sequelize";
import type { StockLevel } from "../../lib/contracts/catalog";
import { belowReserved, NewLevel, normalizeLevels, toStockLevel } from "./domain/stock";
import { InventoryOutbox, stockChanged } from "./inventory-events";
import type { InventoryRepository } from "./inventory-repository";
import type { LevelMemo } from "./level-memo";
import type { Clock, Transactional } from "./use-case-support";
import type { MessageOrigin } from "../../lib/messaging/outbox";

/**
 * Stock levels: what operators set (on hand) and what everyone reads. Setting
 * on hand never goes below what open reservations hold, and creates the row
 * of a product that has none. Every change publishes StockChanged with the
 * row's new version, in the same transaction.
 */
export class StockUseCases {
  private readonly now: Clock;

  constructor(
    private readonly repository: InventoryRepository,
    private readonly database: Transactional,
    private readonly outbox: InventoryOutbox,
    private readonly memo?: LevelMemo,
    now?: Clock,
  ) {
    this.now = now ?? Date.now;
  }

  /**
   * One level per distinct id, in the order asked; a product with no row has
   * nothing. With `maxAgeMs` (and a memo), a level read that recently may be
   * answered without the database (level-memo.ts says how late it can be).
   */
  async levels(productIds: readonly string[], maxAgeMs = 0): Promise<StockLevel[]> {
    const ids = [...new Set(productIds)];
    if (maxAgeMs > 0 && this.memo)
      return this.memo.levels(ids, maxAgeMs, (missing) => this.read(missing));
    return this.read(ids);
  }

  private async read(ids: string[]): Promise<StockLevel[]> {
    const rows = new Map((await this.repository.stockRows(ids)).map((row) => [row.productId, row]));
    return ids.map((id) => toStockLevel(id, rows.get(id)));
  }

  async level(productId: string): Promise<StockLevel> {
    return toStockLevel(productId, await this.repository.stockRow(productId));
  }

  /** Sets on hand (CONFLICT naming onHand if that is below what is reserved). */
  setStock(productId: string, onHand: number, origin?: MessageOrigin): Promise<StockLevel> {
    return this.database.transaction((tx) =>
      this.applyLevel(tx, { productId, onHand }, "onHand", origin),
    );
  }

  /** Many products in one transaction: all are set, or (one CONFLICT) none. */
  async setStockBulk(
    levels: readonly NewLevel[],
    origin?: MessageOrigin,
  ): Promise<{ updated: number }> {
    const indexOf = new Map(levels.map((l, i) => [l.productId, i]));
    const ordered = normalizeLevels(levels);
    await this.database.transaction(async (tx) => {
      for (const level of ordered) {
        await this.applyLevel(tx, level, `levels[${indexOf.get(level.productId)}].onHand`, origin);
      }
    });
    return { updated: ordered.length };
  }

  private async applyLevel(
    tx: Transaction,
    { productId, onHand }: NewLevel,
    field: string,
    origin?: MessageOrigin,
  ): Promise<StockLevel> {
    const now = this.now();
    const result = await this.repository.setOnHand(tx, productId, onHand, now);
    if (result.kind === "below-reserved")
      throw belowReserved(productId, onHand, result.reserved, field);
    const level = toStockLevel(productId, await this.repository.stockRow(productId, tx));
    await this.outbox.enqueue(tx, stockChanged(level), origin);
    return level;
  }
}
