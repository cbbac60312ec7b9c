import { QueryTypes, Sequelize, Transaction } from "sequelize";
import type { ReservationLine, ReservationStatus } from "../../lib/contracts/catalog";
import { compareIds } from "./domain/lines";
import type { ReservationRecord, Shortage } from "./domain/reservation";
import type { StockRow } from "./domain/stock";
import { isUniqueViolation } from "../../lib/infra/relational/errors";

/**
 * SQL of the inventory service (tables in migrations.ts); every statement
 * runs on SQLite and MySQL/MariaDB. Stock rows change only through
 * conditional UPDATEs whose WHERE clause keeps 0 ≤ reserved ≤ on_hand, so a
 * change that would break it affects no row instead of overselling. Writes
 * take the caller's transaction (required: on embedded SQLite a write outside
 * it would join whichever transaction is open).
 *
 * Locks (MySQL; SQLite runs one transaction at a time): a transaction takes
 * the reservation row first, then stock rows in product-id order.
 */
interface ReservationRow {
  id: string;
  status: ReservationStatus;
  reason: string | null;
  shortages: string | null;
  expires_at: number | string | null;
  created_at: number | string;
  updated_at: number | string;
}

interface StockLevelRow {
  product_id: string;
  on_hand: number | string;
  reserved: number | string;
  version: number | string;
}

export interface NewReservation {
  id: string;
  status: ReservationStatus;
  reason?: string | null;
  shortages?: Shortage[] | null;
  expiresAt?: number | null;
  lines: ReservationLine[];
}

export type ReadLock = "share" | "update";

export type SetOnHandResult =
  { kind: "created" } | { kind: "updated" } | { kind: "below-reserved"; reserved: number };

export class InventoryRepository {
  private readonly mysql: boolean;

  constructor(private readonly sequelize: Sequelize) {
    this.mysql = sequelize.getDialect() === "mysql";
  }

  // ---- reservations

  /**
   * Inserts the reservation and its lines. False when a reservation with
   * this id exists (committed, or inserted by a concurrent transaction that
   * then commits: the insert waits for it) — the primary key is the guard
   * that makes two concurrent reserves of one id have one effect.
   */
  async insertReservation(tx: Transaction, r: NewReservation, now: number): Promise<boolean> {
    try {
      await this.run(
        tx,
        `INSERT INTO reservations (id, status, reason, shortages, expires_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [
          r.id,
          r.status,
          r.reason ?? null,
          r.shortages?.length ? JSON.stringify(r.shortages) : null,
          r.expiresAt ?? null,
          now,
          now,
        ],
        QueryTypes.INSERT,
      );
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
    for (const line of r.lines) {
      await this.run(
        tx,
        "INSERT INTO reservation_lines (reservation_id, product_id, quantity) VALUES (?, ?, ?)",
        [r.id, line.productId, line.quantity],
        QueryTypes.INSERT,
      );
    }
    return true;
  }

  /**
   * The reservation with its lines. Inside a transaction, `lock` reads the
   * latest committed rows and locks them (MySQL): "update" before changing
   * the reservation, "share" to read it after a failed insert (which already
   * holds a shared lock). The lines are read with a shared lock then too, so
   * they are as current as the row, whatever snapshot the transaction has.
   */
  async findReservation(
    id: string,
    tx?: Transaction,
    lock?: ReadLock,
  ): Promise<ReservationRecord | null> {
    const [row] = await this.select<ReservationRow>(
      `SELECT id, status, reason, shortages, expires_at, created_at, updated_at
       FROM reservations WHERE id = ?${this.lockClause(tx, lock)}`,
      [id],
      tx,
    );
    if (!row) return null;
    const lines = await this.select<{ product_id: string; quantity: number | string }>(
      `SELECT product_id, quantity FROM reservation_lines WHERE reservation_id = ?${this.lockClause(tx, lock && "share")}`,
      [id],
      tx,
    );
    return {
      id: row.id,
      status: row.status,
      reason: row.reason,
      shortages: row.shortages ? (JSON.parse(row.shortages) as Shortage[]) : null,
      lines: lines
        .map((l) => ({ productId: l.product_id, quantity: Number(l.quantity) }))
        .sort((a, b) => compareIds(a.productId, b.productId)),
      expiresAt: row.expires_at == null ? null : Number(row.expires_at),
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
    };
  }

  /**
   * The reservation, locked for an update; null (and no lock) when it does
   * not exist. Not a plain locking read: on MySQL a locking read of a missing
   * key holds a gap lock, and two transactions that hold one and then insert
   * into that gap (release tombstones of two new ids) deadlock. A reservation
   * committed after this transaction's snapshot reads as missing here; a
   * caller that then fails to insert it reads it with findReservation(…, "update").
   */
  async lockReservation(id: string, tx: Transaction): Promise<ReservationRecord | null> {
    if (this.mysql) {
      const [exists] = await this.select<{ id: string }>(
        "SELECT id FROM reservations WHERE id = ?",
        [id],
        tx,
      );
      if (!exists) return null;
    }
    return this.findReservation(id, tx, "update");
  }

  /**
   * Moves a reservation from `from` to `to` only if it is still in `from`
   * (and, with `expiredBy`, only if it expired by then): the conditional
   * transition that lets several nodes race safely. True if it moved.
   */
  async transition(
    tx: Transaction,
    id: string,
    from: ReservationStatus,
    to: ReservationStatus,
    reason: string | null,
    now: number,
    expiredBy?: number,
  ): Promise<boolean> {
    const expiry = expiredBy === undefined ? "" : " AND expires_at <= ?";
    return (
      (await this.update(
        tx,
        `UPDATE reservations SET status = ?, reason = COALESCE(?, reason), updated_at = ?
         WHERE id = ? AND status = ?${expiry}`,
        [to, reason, now, id, from, ...(expiredBy === undefined ? [] : [expiredBy])],
      )) === 1
    );
  }

  /** Ids of reservations still RESERVED whose time ran out by `now`, oldest deadline first. */
  async dueForExpiry(now: number, limit: number): Promise<string[]> {
    const rows = await this.select<{ id: string }>(
      `SELECT id FROM reservations WHERE status = 'RESERVED' AND expires_at <= ?
       ORDER BY expires_at LIMIT ?`,
      [now, limit],
    );
    return rows.map((r) => r.id);
  }

  async countByStatus(): Promise<Partial<Record<ReservationStatus, number>>> {
    const rows = await this.select<{ status: ReservationStatus; n: number | string }>(
      "SELECT status, COUNT(*) AS n FROM reservations GROUP BY status",
      [],
    );
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  async countExpired(now: number): Promise<number> {
    const [row] = await this.select<{ n: number | string }>(
      "SELECT COUNT(*) AS n FROM reservations WHERE status = 'RESERVED' AND expires_at <= ?",
      [now],
    );
    return Number(row?.n ?? 0);
  }

  // ---- stock rows

  /** reserved += q, only if q units are available. False: not enough (or no row). */
  async reserveStock(tx: Transaction, productId: string, q: number, now: number): Promise<boolean> {
    return this.changeStock(
      tx,
      "reserved = reserved + ?",
      "on_hand - reserved >= ?",
      [q],
      [q],
      productId,
      now,
    );
  }

  /** reserved -= q (a release gives the units back). */
  async unreserveStock(
    tx: Transaction,
    productId: string,
    q: number,
    now: number,
  ): Promise<boolean> {
    return this.changeStock(
      tx,
      "reserved = reserved - ?",
      "reserved >= ?",
      [q],
      [q],
      productId,
      now,
    );
  }

  /** on_hand -= q and reserved -= q (a commit: the units leave the warehouse). */
  async commitStock(tx: Transaction, productId: string, q: number, now: number): Promise<boolean> {
    return this.changeStock(
      tx,
      "on_hand = on_hand - ?, reserved = reserved - ?",
      "reserved >= ? AND on_hand >= ?",
      [q, q],
      [q, q],
      productId,
      now,
    );
  }

  /** on_hand += q (a return: units that had left come back to the warehouse). */
  async returnStock(tx: Transaction, productId: string, q: number, now: number): Promise<boolean> {
    return this.changeStock(tx, "on_hand = on_hand + ?", "1 = 1", [q], [], productId, now);
  }

  /**
   * on_hand = n, only if n covers what is reserved; creates the row (version
   * 1) of a product that has none. As with reservations, a missing row is
   * found with a plain read, not a locking one (no gap lock before the insert).
   */
  async setOnHand(
    tx: Transaction,
    productId: string,
    onHand: number,
    now: number,
  ): Promise<SetOnHandResult> {
    const [exists] = await this.select<{ product_id: string }>(
      "SELECT product_id FROM stock_levels WHERE product_id = ?",
      [productId],
      tx,
    );
    if (!exists && (await this.insertStock(tx, productId, onHand, now))) return { kind: "created" };
    for (;;) {
      if (
        await this.changeStock(
          tx,
          "on_hand = ?",
          "reserved <= ?",
          [onHand],
          [onHand],
          productId,
          now,
        )
      )
        return { kind: "updated" };
      // Locked now, so what it says is current; a release may have come in between.
      const row = await this.stockRow(productId, tx, "update");
      if (!row) throw new Error(`stock row of ${productId} vanished`);
      if (row.reserved > onHand) return { kind: "below-reserved", reserved: row.reserved };
    }
  }

  /** Creates a product's row. False when a concurrent transaction created it first. */
  private async insertStock(
    tx: Transaction,
    productId: string,
    onHand: number,
    now: number,
  ): Promise<boolean> {
    try {
      await this.run(
        tx,
        "INSERT INTO stock_levels (product_id, on_hand, reserved, version, updated_at) VALUES (?, ?, 0, 1, ?)",
        [productId, onHand, now],
        QueryTypes.INSERT,
      );
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async stockRow(productId: string, tx?: Transaction, lock?: ReadLock): Promise<StockRow | null> {
    const [row] = await this.select<StockLevelRow>(
      `SELECT product_id, on_hand, reserved, version FROM stock_levels WHERE product_id = ?${this.lockClause(tx, lock)}`,
      [productId],
      tx,
    );
    return row ? toRow(row) : null;
  }

  async stockRows(productIds: readonly string[], tx?: Transaction): Promise<StockRow[]> {
    if (productIds.length === 0) return [];
    const rows = await this.select<StockLevelRow>(
      "SELECT product_id, on_hand, reserved, version FROM stock_levels WHERE product_id IN (?)",
      [productIds],
      tx,
    );
    return rows.map(toRow);
  }

  // ---- helpers

  private async changeStock(
    tx: Transaction,
    set: string,
    condition: string,
    setValues: unknown[],
    conditionValues: unknown[],
    productId: string,
    now: number,
  ): Promise<boolean> {
    const affected = await this.update(
      tx,
      `UPDATE stock_levels SET ${set}, version = version + 1, updated_at = ?
       WHERE product_id = ? AND ${condition}`,
      [...setValues, now, productId, ...conditionValues],
    );
    return affected === 1;
  }

  /** FOR UPDATE / LOCK IN SHARE MODE on MySQL; SQLite's transactions hold the whole file. */
  private lockClause(tx: Transaction | undefined, lock: ReadLock | undefined): string {
    if (!tx || !lock || !this.mysql) return "";
    return lock === "update" ? " FOR UPDATE" : " LOCK IN SHARE MODE";
  }

  private select<T extends object>(
    sql: string,
    replacements: unknown[],
    tx?: Transaction,
  ): Promise<T[]> {
    return this.sequelize.query<T>(sql, { replacements, type: QueryTypes.SELECT, transaction: tx });
  }

  private async run(
    tx: Transaction,
    sql: string,
    replacements: unknown[],
    type: QueryTypes.INSERT | QueryTypes.UPDATE,
  ): Promise<unknown> {
    return this.sequelize.query(sql, { replacements, type, transaction: tx });
  }

  /** Rows affected by an UPDATE (both dialects answer [result, affectedRows]). */
  private async update(tx: Transaction, sql: string, replacements: unknown[]): Promise<number> {
    const [, affected] = (await this.run(tx, sql, replacements, QueryTypes.UPDATE)) as [
      unknown,
      number,
    ];
    return Number(affected);
  }
}

function toRow(row: StockLevelRow): StockRow {
  return {
    productId: row.product_id,
    onHand: Number(row.on_hand),
    reserved: Number(row.reserved),
    version: Number(row.version),
  };
}
