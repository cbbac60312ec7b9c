import { QueryTypes, Sequelize, Transaction } from "sequelize";
import type {
  CancelReason,
  OrderLine,
  OrderStatus,
  PaymentMethodType,
  PaymentStatus,
  ShippingAddress,
} from "../../lib/contracts/orders";
import { BoundedMap } from "../../lib/bounded-map";
import { immutableCopy } from "../../lib/immutable";
import type { OrderRecord, SagaStep } from "./domain/order";
import type { TimelineEntry } from "./domain/order-view";

/**
 * SQL of the orders service (tables in migrations.ts); every statement runs
 * on SQLite and MySQL/MariaDB. An order changes only while its row is locked
 * (lockOrder, FOR UPDATE on MySQL; SQLite runs one transaction at a time),
 * and every update is conditional on the version read, so a sweeper and a
 * payment message racing for one order end in one outcome.
 */
interface OrderRow {
  id: string;
  user_id: string;
  status: OrderStatus;
  cancel_reason: CancelReason | null;
  currency: string;
  subtotal: number | string;
  total: number | string;
  shipping_address: string;
  payment_method: PaymentMethodType;
  payment_id: string | null;
  payment_status: PaymentStatus | null;
  payment_provider_reference: string | null;
  cart_id: string | null;
  tracking_number: string | null;
  payment_deadline: number | string | null;
  version: number | string;
  created_at: number | string;
  updated_at: number | string;
}

interface LineRow {
  product_id: string;
  sku: string;
  name: string;
  quantity: number | string;
  unit_price: number | string;
  line_total: number | string;
}

interface StepRow {
  seq: number | string;
  step: SagaStep;
  detail: string | null;
  message_id: string | null;
  causation_id: string | null;
  correlation_id: string | null;
  at: number | string;
}

/** The saga's bookkeeping beside the order. */
export interface SagaRecord {
  state: string;
  stepCount: number;
  correlationId: string | null;
  pendingPaymentToken: string | null;
}

export interface LockedOrder {
  order: OrderRecord;
  saga: SagaRecord;
}

/** An order without its lines, and how many items it holds (lists). */
export interface OrderWithItemCount {
  order: Omit<OrderRecord, "lines">;
  items: number;
}

export interface NewStep {
  seq: number;
  step: SagaStep;
  detail: string | null;
  messageId: string | null;
  causationId: string | null;
  correlationId: string | null;
  at: number;
}

export interface SagaUpdate {
  state: string;
  lastStep: SagaStep;
  stepCount: number;
  /** The card token is dropped once ProcessPayment carries it, or the saga ends without it. */
  dropPaymentToken: boolean;
}

const ORDER_COLUMN_NAMES = [
  "id",
  "user_id",
  "status",
  "cancel_reason",
  "currency",
  "subtotal",
  "total",
  "shipping_address",
  "payment_method",
  "payment_id",
  "payment_status",
  "payment_provider_reference",
  "cart_id",
  "tracking_number",
  "payment_deadline",
  "version",
  "created_at",
  "updated_at",
];
const orderColumns = (alias = "") => ORDER_COLUMN_NAMES.map((c) => alias + c).join(", ");
const ORDER_COLUMNS = orderColumns();

/** Orders whose lines are kept in memory: a few minutes of checkouts at full speed. */
const RECENT_LINES = 10_000;

export class OrderRepository {
  private readonly mysql: boolean;
  private readonly recentLines = new BoundedMap<string, OrderLine[]>(RECENT_LINES);

  constructor(private readonly sequelize: Sequelize) {
    this.mysql = sequelize.getDialect() === "mysql";
  }

  // ---- writes (always in the caller's transaction)

  async insertOrder(
    tx: Transaction,
    order: OrderRecord,
    saga: SagaRecord & { lastStep: SagaStep },
  ): Promise<void> {
    await this.run(
      tx,
      `INSERT INTO orders (${ORDER_COLUMNS}) VALUES (${ORDER_COLUMN_NAMES.map(() => "?").join(", ")})`,
      [
        order.id,
        order.userId,
        order.status,
        order.cancelReason,
        order.currency,
        order.subtotal,
        order.total,
        JSON.stringify(order.shippingAddress),
        order.paymentMethod,
        order.payment?.id ?? null,
        order.payment?.status ?? null,
        order.payment?.providerReference ?? null,
        order.cartId,
        order.trackingNumber,
        order.paymentDeadline,
        order.version,
        order.createdAt,
        order.updatedAt,
      ],
    );
    // All lines in one statement (checkout refuses an order without any);
    // the saga's next step finds them remembered.
    if (order.lines.length)
      await this.run(
        tx,
        `INSERT INTO order_lines (order_id, line_no, product_id, sku, name, quantity, unit_price, line_total)
         VALUES ${order.lines.map(() => "(?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
        order.lines.flatMap((line, i) => [
          order.id,
          i + 1,
          line.productId,
          line.sku,
          line.name,
          line.quantity,
          line.unitPrice.amount,
          line.lineTotal.amount,
        ]),
      );
    tx.afterCommit(() => {
      this.remember(order.id, order.lines);
    });
    await this.run(
      tx,
      `INSERT INTO order_saga (order_id, state, last_step, step_count, correlation_id, pending_payment_token, started_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        order.id,
        saga.state,
        saga.lastStep,
        saga.stepCount,
        saga.correlationId,
        saga.pendingPaymentToken,
        order.createdAt,
        order.createdAt,
      ],
    );
  }

  /**
   * Writes the order's new state, and its saga's, if the order is still at
   * `expectedVersion` (the version goes up by one). False when it is not:
   * another change won.
   */
  async updateOrder(
    tx: Transaction,
    order: OrderRecord,
    expectedVersion: number,
    saga: SagaUpdate,
    at: number,
  ): Promise<boolean> {
    const affected = await this.update(
      tx,
      `UPDATE orders SET status = ?, cancel_reason = ?, payment_id = ?, payment_status = ?,
         payment_provider_reference = ?, tracking_number = ?, payment_deadline = ?,
         version = version + 1, updated_at = ?
       WHERE id = ? AND version = ?`,
      [
        order.status,
        order.cancelReason,
        order.payment?.id ?? null,
        order.payment?.status ?? null,
        order.payment?.providerReference ?? null,
        order.trackingNumber,
        order.paymentDeadline,
        order.updatedAt,
        order.id,
        expectedVersion,
      ],
    );
    if (affected !== 1) return false;
    await this.updateSaga(tx, order.id, saga, at);
    return true;
  }

  /** The saga's new state alone (a step that changes nothing in the order row). */
  async updateSaga(tx: Transaction, orderId: string, saga: SagaUpdate, at: number): Promise<void> {
    await this.update(
      tx,
      `UPDATE order_saga SET state = ?, last_step = ?, step_count = ?, updated_at = ?${
        saga.dropPaymentToken ? ", pending_payment_token = NULL" : ""
      } WHERE order_id = ?`,
      [saga.state, saga.lastStep, saga.stepCount, at, orderId],
    );
  }

  /** All of a decision's steps in one statement (a saga step writes two or three). */
  async insertSteps(tx: Transaction, orderId: string, steps: NewStep[]): Promise<void> {
    if (!steps.length) return;
    await this.run(
      tx,
      `INSERT INTO saga_steps (order_id, seq, step, detail, message_id, causation_id, correlation_id, at)
       VALUES ${steps.map(() => "(?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
      steps.flatMap((s) => [
        orderId,
        s.seq,
        s.step,
        s.detail?.slice(0, 500) ?? null,
        s.messageId,
        s.causationId,
        s.correlationId?.slice(0, 128) ?? null,
        s.at,
      ]),
    );
  }

  // ---- reads

  /**
   * The order and its saga row, locked for an update; null when there is no
   * such order. The rows are read with a locking (current) read, so they are
   * the latest whatever snapshot tx has; one statement reads (and locks)
   * both. On MySQL a missing order leaves a gap lock until tx ends, which
   * only delays an order placed into that gap: every caller ends its
   * transaction at once when the order is missing, without waiting on
   * another lock, so no deadlock can form around it.
   */
  async lockOrder(tx: Transaction, id: string): Promise<LockedOrder | null> {
    const lock = this.mysql ? " FOR UPDATE" : "";
    const [row] = await this.select<
      OrderRow & {
        saga_state: string | null;
        saga_step_count: number | string | null;
        saga_correlation_id: string | null;
        saga_pending_payment_token: string | null;
      }
    >(
      `SELECT ${orderColumns("o.")}, s.state AS saga_state, s.step_count AS saga_step_count,
              s.correlation_id AS saga_correlation_id,
              s.pending_payment_token AS saga_pending_payment_token
       FROM orders o LEFT JOIN order_saga s ON s.order_id = o.id WHERE o.id = ?${lock}`,
      [id],
      tx,
    );
    if (!row) return null;
    if (row.saga_state === null) throw new Error(`order ${id} has no saga row`);
    return {
      order: toOrder(row, await this.lines(id, tx)),
      saga: {
        state: row.saga_state,
        stepCount: Number(row.saga_step_count),
        correlationId: row.saga_correlation_id,
        pendingPaymentToken: row.saga_pending_payment_token,
      },
    };
  }

  /** The order if `userId` owns it (another user's order does not exist for them). */
  async findOwnOrder(userId: string, id: string): Promise<OrderRecord | null> {
    const [row] = await this.select<OrderRow>(
      `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ? AND user_id = ?`,
      [id, userId],
    );
    return row ? toOrder(row, await this.lines(id)) : null;
  }

  /** The status of the order if `userId` owns it. */
  async ownOrderStatus(userId: string, id: string): Promise<OrderStatus | undefined> {
    const [row] = await this.select<{ status: OrderStatus }>(
      "SELECT status FROM orders WHERE id = ? AND user_id = ?",
      [id, userId],
    );
    return row?.status;
  }

  /** Any user's order (operators' reads only). */
  async findOrder(id: string): Promise<OrderRecord | null> {
    const [row] = await this.select<OrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ?`, [
      id,
    ]);
    return row ? toOrder(row, await this.lines(id)) : null;
  }

  /**
   * The user's order with the timeline of that same state. The order row and
   * its saga's step count are read in one statement, and the timeline, read
   * after them, is cut at that count: a step committed in between (with the
   * order change it belongs to) shows on the next read, never beside the
   * older order.
   */
  async findOwnOrderWithTimeline(
    userId: string,
    id: string,
  ): Promise<{ order: OrderRecord; timeline: TimelineEntry[] } | null> {
    const [row] = await this.select<OrderRow & { step_count: number | string }>(
      `SELECT ${orderColumns("o.")}, s.step_count FROM orders o
       JOIN order_saga s ON s.order_id = o.id WHERE o.id = ? AND o.user_id = ?`,
      [id, userId],
    );
    if (!row) return null;
    const timeline = await this.timeline(id, Number(row.step_count));
    return { order: toOrder(row, await this.lines(id)), timeline };
  }

  /** The saga's steps, in order; those up to `throughSeq` when it is given. */
  async timeline(orderId: string, throughSeq = Number.MAX_SAFE_INTEGER): Promise<TimelineEntry[]> {
    const rows = await this.select<StepRow>(
      `SELECT seq, step, detail, message_id, causation_id, correlation_id, at
       FROM saga_steps WHERE order_id = ? AND seq <= ? ORDER BY seq`,
      [orderId, throughSeq],
    );
    return rows.map((r) => ({
      seq: Number(r.seq),
      step: r.step,
      detail: r.detail,
      at: new Date(Number(r.at)).toISOString(),
      messageId: r.message_id,
      causationId: r.causation_id,
      correlationId: r.correlation_id,
    }));
  }

  /** A user's orders, newest first, with their item counts. */
  async listOwnOrders(
    userId: string,
    offset: number,
    limit: number,
  ): Promise<{ orders: OrderWithItemCount[]; total: number }> {
    const [count] = await this.select<{ n: number | string }>(
      "SELECT COUNT(*) AS n FROM orders WHERE user_id = ?",
      [userId],
    );
    return {
      total: Number(count?.n ?? 0),
      orders: await this.summaries("o.user_id = ?", [userId], limit, offset),
    };
  }

  /**
   * Orders whose reference (orderReference: the id's first eight hex digits)
   * is this one, newest first. A prefix of the primary key: on MySQL/MariaDB
   * an index range (SQLite's LIKE scans, which embedded data sizes allow).
   */
  ordersByReference(reference: string, limit: number): Promise<OrderWithItemCount[]> {
    return this.summaries("o.id LIKE ?", [`${reference.toLowerCase()}-%`], limit, 0);
  }

  /** Orders without their lines, with how many items each holds, newest first. */
  private async summaries(
    where: string,
    params: unknown[],
    limit: number,
    offset: number,
  ): Promise<OrderWithItemCount[]> {
    const rows = await this.select<OrderRow & { items: number | string | null }>(
      `SELECT ${orderColumns("o.")},
         (SELECT SUM(l.quantity) FROM order_lines l WHERE l.order_id = o.id) AS items
       FROM orders o WHERE ${where}
       ORDER BY o.created_at DESC, o.id DESC LIMIT ? OFFSET ?`,
      [...params, limit, offset],
    );
    return rows.map((row) => ({ order: toOrder(row, []), items: Number(row.items ?? 0) }));
  }

  /**
   * Ids of orders past their payment deadline (AWAITING_PAYMENT), or PENDING
   * since before `pendingSince` (inventory never answered), oldest first.
   */
  async overdueOrders(now: number, pendingSince: number, limit: number): Promise<string[]> {
    const rows = await this.select<{ id: string; due: number | string }>(
      `SELECT id, payment_deadline AS due FROM orders
         WHERE status = 'AWAITING_PAYMENT' AND payment_deadline <= ?
       UNION ALL
       SELECT id, created_at AS due FROM orders WHERE status = 'PENDING' AND created_at <= ?
       ORDER BY due LIMIT ?`,
      [now, pendingSince, limit],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Lines never change after the order is placed, so any snapshot reads them
   * right, and those of the orders placed or read lately are kept (frozen):
   * every saga step and status read of an order needs them.
   */
  private async lines(orderId: string, tx?: Transaction): Promise<OrderLine[]> {
    const known = this.recentLines.get(orderId);
    if (known) return known;
    const rows = await this.select<LineRow & { currency: string }>(
      `SELECT l.product_id, l.sku, l.name, l.quantity, l.unit_price, l.line_total, o.currency
       FROM order_lines l JOIN orders o ON o.id = l.order_id
       WHERE l.order_id = ? ORDER BY l.line_no`,
      [orderId],
      tx,
    );
    const lines = rows.map((r) => ({
      productId: r.product_id,
      sku: r.sku,
      name: r.name,
      quantity: Number(r.quantity),
      unitPrice: { amount: Number(r.unit_price), currency: r.currency },
      lineTotal: { amount: Number(r.line_total), currency: r.currency },
    }));
    if (!lines.length) return lines; // no such order (yet)
    return this.remember(orderId, lines);
  }

  private remember(orderId: string, lines: OrderLine[]): OrderLine[] {
    const frozen = immutableCopy(lines);
    this.recentLines.set(orderId, frozen);
    return frozen;
  }

  private select<T extends object>(
    sql: string,
    replacements: unknown[],
    tx?: Transaction,
  ): Promise<T[]> {
    return this.sequelize.query<T>(sql, { replacements, type: QueryTypes.SELECT, transaction: tx });
  }

  private async run(tx: Transaction, sql: string, replacements: unknown[]): Promise<void> {
    await this.sequelize.query(sql, { replacements, type: QueryTypes.INSERT, transaction: tx });
  }

  /** Rows affected by an UPDATE (both dialects answer [result, affectedRows]). */
  private async update(tx: Transaction, sql: string, replacements: unknown[]): Promise<number> {
    const [, affected] = (await this.sequelize.query(sql, {
      replacements,
      type: QueryTypes.UPDATE,
      transaction: tx,
    })) as [unknown, number];
    return Number(affected);
  }
}

function toOrder(row: OrderRow, lines: OrderLine[]): OrderRecord {
  return {
    id: row.id,
    userId: row.user_id,
    status: row.status,
    cancelReason: row.cancel_reason,
    currency: row.currency,
    subtotal: Number(row.subtotal),
    total: Number(row.total),
    lines,
    shippingAddress: JSON.parse(row.shipping_address) as ShippingAddress,
    paymentMethod: row.payment_method,
    payment:
      row.payment_id && row.payment_status
        ? {
            id: row.payment_id,
            status: row.payment_status,
            providerReference: row.payment_provider_reference,
          }
        : null,
    cartId: row.cart_id,
    trackingNumber: row.tracking_number,
    paymentDeadline: row.payment_deadline == null ? null : Number(row.payment_deadline),
    version: Number(row.version),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
