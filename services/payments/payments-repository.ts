import { QueryTypes, Sequelize, Transaction } from "sequelize";
import type {
  OrderLine,
  PaymentMethodType,
  PaymentStatus,
  Receipt,
} from "../../lib/contracts/orders";
import { BoundedMap } from "../../lib/bounded-map";
import { isUniqueViolation } from "../../lib/infra/relational/errors";
import type { CallAttempt } from "./provider/port";
import type { PaymentRecord } from "./domain/payment";

/**
 * SQL of the payments service (tables in migrations.ts); every statement
 * runs on SQLite and MySQL/MariaDB. Status changes are conditional
 * (`WHERE status = ?`), so two deliveries racing to move one payment move it
 * once. Writes take the caller's transaction.
 */
interface PaymentRow {
  id: string;
  order_id: string;
  user_id: string;
  method: PaymentMethodType;
  status: PaymentStatus;
  amount: number | string;
  currency: string;
  order_lines: string;
  provider_charge_id: string | null;
  idempotency_key: string;
  failure_code: string | null;
  failure_message: string | null;
  card_brand: string | null;
  card_last4: string | null;
  refund_requested: number | boolean | string;
  refund_reason: string | null;
  charge_tries: number | string;
  created_at: number | string;
  updated_at: number | string;
}

interface ReceiptRow {
  receipt_number: string;
  payment_id: string;
  order_id: string;
  user_id: string;
  order_lines: string;
  total_amount: number | string;
  currency: string;
  method: PaymentMethodType;
  provider_reference: string | null;
  paid_at: number | string;
}

export interface RefundRecord {
  id: string;
  paymentId: string;
  providerRefundId: string | null;
  amount: number;
  currency: string;
  status: "PENDING" | "SUCCEEDED" | "FAILED";
  reason: string | null;
}

/** Columns a status change may set besides the status. */
export interface PaymentChanges {
  providerChargeId?: string | null;
  failureCode?: string | null;
  failureMessage?: string | null;
  card?: { brand: string; last4: string } | null;
}

const PAYMENT_COLUMNS = `id, order_id, user_id, method, status, amount, currency, order_lines,
  provider_charge_id, idempotency_key, failure_code, failure_message, card_brand, card_last4,
  refund_requested, refund_reason, charge_tries, created_at, updated_at`;

/** Payments whose count of attempts is kept here: minutes of checkouts at full speed. */
const KNOWN_ATTEMPT_COUNTS = 10_000;

export class PaymentsRepository {
  private readonly mysql: boolean;
  /**
   * How many provider requests the payments created or charged on this node
   * lately have, as last committed here, so that the next ones are numbered
   * without asking the database. Another node's attempts make that number
   * taken: the key of payment_attempts refuses it, and the count is read.
   */
  private readonly attemptCounts = new BoundedMap<string, number>(KNOWN_ATTEMPT_COUNTS);

  constructor(private readonly sequelize: Sequelize) {
    this.mysql = sequelize.getDialect() === "mysql";
  }

  // ---- payments

  /** Inserts the payment; false when the order already has one (the unique order id). */
  async insertPayment(p: PaymentRecord, tx?: Transaction): Promise<boolean> {
    try {
      await this.run(
        tx,
        `INSERT INTO payments (id, order_id, user_id, method, status, amount, currency, order_lines,
           provider_charge_id, idempotency_key, failure_code, failure_message, card_brand, card_last4,
           refund_requested, refund_reason, charge_tries, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          p.id,
          p.orderId,
          p.userId,
          p.method,
          p.status,
          p.amount.amount,
          p.amount.currency,
          JSON.stringify(p.lines),
          p.providerChargeId,
          p.idempotencyKey,
          p.failureCode,
          p.failureMessage,
          p.card?.brand ?? null,
          p.card?.last4 ?? null,
          p.refundRequested,
          p.refundReason,
          p.chargeTries,
          p.createdAt,
          p.updatedAt,
        ],
        QueryTypes.INSERT,
      );
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
    const noAttemptsYet = () => void this.attemptCounts.set(p.id, 0);
    if (tx) tx.afterCommit(noAttemptsYet);
    else noAttemptsYet();
    return true;
  }

  /**
   * The order's payment. With `forUpdate` inside a transaction the row is
   * read as last committed and locked (MySQL) — only ever for a row known to
   * exist, so no gap lock is taken.
   */
  async findByOrderId(
    orderId: string,
    tx?: Transaction,
    forUpdate = false,
  ): Promise<PaymentRecord | null> {
    const [row] = await this.select<PaymentRow>(
      `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE order_id = ?${this.lock(tx, forUpdate)}`,
      [orderId],
      tx,
    );
    return row ? toPayment(row) : null;
  }

  async findById(id: string, tx?: Transaction, forUpdate = false): Promise<PaymentRecord | null> {
    const [row] = await this.select<PaymentRow>(
      `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = ?${this.lock(tx, forUpdate)}`,
      [id],
      tx,
    );
    return row ? toPayment(row) : null;
  }

  async findByChargeId(chargeId: string, tx?: Transaction): Promise<PaymentRecord | null> {
    const [row] = await this.select<PaymentRow>(
      `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE provider_charge_id = ?`,
      [chargeId],
      tx,
    );
    return toPayment(row);
  }

  /** The payment with this id, or else the payment of the order with this id. */
  async findByIdOrOrderId(id: string): Promise<PaymentRecord | null> {
    const rows = await this.select<PaymentRow>(
      `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = ? OR order_id = ?`,
      [id, id],
    );
    return toPayment(rows.find((r) => r.id === id) ?? rows[0]) ?? null;
  }

  /** Moves the payment from `from` to `to` if it is still in `from`; true when it moved. */
  async transition(
    tx: Transaction,
    id: string,
    from: PaymentStatus,
    to: PaymentStatus,
    changes: PaymentChanges,
    now: number,
  ): Promise<boolean> {
    const sets = ["status = ?", "updated_at = ?"];
    const values: unknown[] = [to, now];
    this.addChanges(changes, sets, values);
    return (
      (await this.update(tx, `UPDATE payments SET ${sets.join(", ")} WHERE id = ? AND status = ?`, [
        ...values,
        id,
        from,
      ])) === 1
    );
  }

  /** Records what the provider said about a charge that stays PENDING (its id, the card). */
  async recordPendingCharge(
    tx: Transaction,
    id: string,
    changes: PaymentChanges,
    now: number,
  ): Promise<boolean> {
    const sets = ["updated_at = ?"];
    const values: unknown[] = [now];
    this.addChanges(changes, sets, values);
    return (
      (await this.update(
        tx,
        `UPDATE payments SET ${sets.join(", ")} WHERE id = ? AND status = 'PENDING' AND provider_charge_id IS NULL`,
        [...values, id],
      )) === 1
    );
  }

  /** Counts a charge call whose outcome stayed unknown; returns the new count. */
  async countUnknownCharge(tx: Transaction, id: string, now: number): Promise<number> {
    await this.update(
      tx,
      "UPDATE payments SET charge_tries = charge_tries + 1, updated_at = ? WHERE id = ?",
      [now, id],
    );
    const [row] = await this.select<{ charge_tries: number | string }>(
      "SELECT charge_tries FROM payments WHERE id = ?",
      [id],
      tx,
    );
    return Number(row.charge_tries);
  }

  async requestRefund(tx: Transaction, id: string, reason: string, now: number): Promise<boolean> {
    return (
      (await this.update(
        tx,
        "UPDATE payments SET refund_requested = ?, refund_reason = ?, updated_at = ? WHERE id = ? AND refund_requested = ?",
        [true, reason, now, id, false],
      )) === 1
    );
  }

  async countByStatus(): Promise<Partial<Record<PaymentStatus, number>>> {
    const rows = await this.select<{ status: PaymentStatus; n: number | string }>(
      "SELECT status, COUNT(*) AS n FROM payments GROUP BY status",
      [],
    );
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  // ---- attempts

  /**
   * Appends one row per provider request, numbered on from the payment's
   * last one. The caller holds the payment row's lock, which keeps the
   * numbering of concurrent writers apart.
   */
  async recordAttempts(
    tx: Transaction,
    paymentId: string,
    operation: "charge" | "refund",
    attempts: readonly CallAttempt[],
    now: number,
  ): Promise<void> {
    if (!attempts.length) return;
    const counted = this.attemptCounts.get(paymentId);
    let last = counted ?? (await this.lastAttemptNo(tx, paymentId));
    for (const [i, attempt] of attempts.entries()) {
      try {
        await this.insertAttempt(tx, paymentId, last + 1, operation, attempt, now);
      } catch (err) {
        // Another node recorded attempts since this one counted (a failed INSERT leaves
        // the transaction usable on MySQL and SQLite): number on from the stored ones.
        if (i > 0 || counted === undefined || !isUniqueViolation(err)) throw err;
        last = await this.lastAttemptNo(tx, paymentId);
        await this.insertAttempt(tx, paymentId, last + 1, operation, attempt, now);
      }
      last++;
    }
    tx.afterCommit(() => void this.attemptCounts.set(paymentId, last));
  }

  private async lastAttemptNo(tx: Transaction, paymentId: string): Promise<number> {
    const [row] = await this.select<{ n: number | string | null }>(
      "SELECT MAX(attempt_no) AS n FROM payment_attempts WHERE payment_id = ?",
      [paymentId],
      tx,
    );
    return Number(row?.n ?? 0);
  }

  private insertAttempt(
    tx: Transaction,
    paymentId: string,
    attemptNo: number,
    operation: "charge" | "refund",
    a: CallAttempt,
    now: number,
  ): Promise<void> {
    return this.run(
      tx,
      `INSERT INTO payment_attempts (payment_id, attempt_no, operation, outcome, http_status, duration_ms, error, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        paymentId,
        attemptNo,
        operation,
        a.outcome,
        a.httpStatus ?? null,
        Math.max(0, Math.round(a.durationMs)),
        a.error?.slice(0, 300) ?? null,
        now,
      ],
      QueryTypes.INSERT,
    );
  }

  // ---- refunds

  /** Creates the payment's refund (PENDING) unless it has one; returns the stored one. */
  async ensureRefund(tx: Transaction, refund: RefundRecord, now: number): Promise<RefundRecord> {
    try {
      await this.run(
        tx,
        `INSERT INTO refunds (id, payment_id, provider_refund_id, amount, currency, status, reason, created_at, updated_at)
         VALUES (?, ?, NULL, ?, ?, 'PENDING', ?, ?, ?)`,
        [refund.id, refund.paymentId, refund.amount, refund.currency, refund.reason, now, now],
        QueryTypes.INSERT,
      );
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    return (await this.findRefund(refund.paymentId, tx))!;
  }

  async findRefund(paymentId: string, tx?: Transaction): Promise<RefundRecord | null> {
    const [row] = await this.select<{
      id: string;
      payment_id: string;
      provider_refund_id: string | null;
      amount: number | string;
      currency: string;
      status: RefundRecord["status"];
      reason: string | null;
    }>(
      "SELECT id, payment_id, provider_refund_id, amount, currency, status, reason FROM refunds WHERE payment_id = ?",
      [paymentId],
      tx,
    );
    return row
      ? {
          id: row.id,
          paymentId: row.payment_id,
          providerRefundId: row.provider_refund_id,
          amount: Number(row.amount),
          currency: row.currency,
          status: row.status,
          reason: row.reason,
        }
      : null;
  }

  /** Refunds the provider refused for good: left to an operator, no longer retried. */
  async failRefund(tx: Transaction, paymentId: string, now: number): Promise<void> {
    await this.update(
      tx,
      "UPDATE refunds SET status = 'FAILED', updated_at = ? WHERE payment_id = ? AND status = 'PENDING'",
      [now, paymentId],
    );
  }

  /** SUCCEEDED payments whose refund is owed (and not refused), untouched since `before`. */
  async refundsOwed(before: number, limit: number): Promise<PaymentRecord[]> {
    const rows = await this.select<PaymentRow>(
      `SELECT ${PAYMENT_COLUMNS} FROM payments p
       WHERE p.status = 'SUCCEEDED' AND p.refund_requested = ? AND p.updated_at < ?
         AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id AND r.status = 'FAILED')
       ORDER BY p.updated_at LIMIT ?`,
      [true, before, limit],
    );
    return rows.map((row) => toPayment(row)!);
  }

  async completeRefund(
    tx: Transaction,
    paymentId: string,
    providerRefundId: string | null,
    now: number,
  ): Promise<void> {
    await this.update(
      tx,
      "UPDATE refunds SET status = 'SUCCEEDED', provider_refund_id = COALESCE(?, provider_refund_id), updated_at = ? WHERE payment_id = ?",
      [providerRefundId, now, paymentId],
    );
  }

  // ---- receipts

  /** False when the payment has its receipt already (that one stands). */
  async insertReceipt(tx: Transaction, r: Receipt, paidAt: number): Promise<boolean> {
    try {
      await this.run(
        tx,
        `INSERT INTO receipts (receipt_number, payment_id, order_id, user_id, order_lines, total_amount, currency, method, provider_reference, paid_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          r.receiptNumber,
          r.paymentId,
          r.orderId,
          r.userId,
          JSON.stringify(r.lines),
          r.total.amount,
          r.total.currency,
          r.method,
          r.providerReference,
          paidAt,
        ],
        QueryTypes.INSERT,
      );
      return true;
    } catch (err) {
      // One receipt per payment: a second success report finds it written.
      if (!isUniqueViolation(err)) throw err;
      return false;
    }
  }

  async findReceiptByOrderId(orderId: string): Promise<Receipt | null> {
    const [row] = await this.select<ReceiptRow>(
      `SELECT receipt_number, payment_id, order_id, user_id, order_lines, total_amount, currency, method, provider_reference, paid_at
       FROM receipts WHERE order_id = ?`,
      [orderId],
    );
    return row ? toReceipt(row) : null;
  }

  // ---- plumbing

  private addChanges(changes: PaymentChanges, sets: string[], values: unknown[]): void {
    if (changes.providerChargeId !== undefined) {
      sets.push("provider_charge_id = COALESCE(provider_charge_id, ?)");
      values.push(changes.providerChargeId);
    }
    if (changes.failureCode !== undefined) {
      sets.push("failure_code = ?");
      values.push(changes.failureCode);
    }
    if (changes.failureMessage !== undefined) {
      sets.push("failure_message = ?");
      values.push(changes.failureMessage?.slice(0, 300) ?? null);
    }
    if (changes.card !== undefined && changes.card !== null) {
      sets.push("card_brand = ?", "card_last4 = ?");
      values.push(changes.card.brand.slice(0, 20), changes.card.last4.slice(-4));
    }
  }

  private lock(tx: Transaction | undefined, forUpdate: boolean): string {
    return tx && forUpdate && this.mysql ? " FOR UPDATE" : "";
  }

  private async update(tx: Transaction, sql: string, replacements: unknown[]): Promise<number> {
    const [, affected] = (await this.sequelize.query(sql, {
      replacements,
      transaction: tx,
      type: QueryTypes.UPDATE,
    })) as unknown as [unknown, number];
    return Number(affected);
  }

  private async run(
    tx: Transaction | undefined,
    sql: string,
    replacements: unknown[],
    type: QueryTypes,
  ): Promise<void> {
    await this.sequelize.query(sql, { replacements, transaction: tx, type });
  }

  private select<T extends object>(
    sql: string,
    replacements: unknown[],
    tx?: Transaction,
  ): Promise<T[]> {
    return this.sequelize.query<T>(sql, { replacements, transaction: tx, type: QueryTypes.SELECT });
  }
}

function toPayment(row: PaymentRow | undefined): PaymentRecord | null {
  if (!row) return null;
  return {
    id: row.id,
    orderId: row.order_id,
    userId: row.user_id,
    method: row.method,
    status: row.status,
    amount: { amount: Number(row.amount), currency: row.currency },
    lines: JSON.parse(row.order_lines) as OrderLine[],
    providerChargeId: row.provider_charge_id,
    idempotencyKey: row.idempotency_key,
    failureCode: row.failure_code,
    failureMessage: row.failure_message,
    card:
      row.card_brand && row.card_last4 ? { brand: row.card_brand, last4: row.card_last4 } : null,
    refundRequested: row.refund_requested === true || Number(row.refund_requested) === 1,
    refundReason: row.refund_reason,
    chargeTries: Number(row.charge_tries),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function toReceipt(row: ReceiptRow): Receipt {
  return {
    receiptNumber: row.receipt_number,
    orderId: row.order_id,
    paymentId: row.payment_id,
    userId: row.user_id,
    lines: JSON.parse(row.order_lines) as OrderLine[],
    total: { amount: Number(row.total_amount), currency: row.currency },
    method: row.method,
    providerReference: row.provider_reference,
    paidAt: new Date(Number(row.paid_at)).toISOString(),
  };
}
