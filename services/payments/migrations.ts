import { DataTypes, Op, QueryInterface, WhereOptions } from "sequelize";
import type { Migration } from "../../lib/infra/relational";
import { mediumText } from "../../lib/messaging/sql-types";

/**
 * The payments service's own tables. Times are epoch milliseconds (BIGINT)
 * and money integer minor units, as everywhere in the system. No table has a
 * column for a card token or a card number: the token goes to the provider
 * and nowhere else; only the card's brand and last four digits, as the
 * provider reports them, are kept.
 */
// BINARY: ids compare case-sensitively on MySQL too, as they do in code and on SQLite.
const id = (allowNull = false) => ({ type: DataTypes.STRING(64).BINARY, allowNull });
const millis = (allowNull = false) => ({ type: DataTypes.BIGINT, allowNull });
const text = (length: number, allowNull = true) => ({ type: DataTypes.STRING(length), allowNull });

async function addCheck(
  qi: QueryInterface,
  table: string,
  name: string,
  field: string,
  where: WhereOptions,
): Promise<void> {
  await qi.addConstraint(table, { type: "check", name, fields: [field], where });
}

export const PAYMENT_STATUSES = [
  "PENDING",
  "SUCCEEDED",
  "FAILED",
  "REFUNDED",
  "AWAITING_COLLECTION",
] as const;

export const paymentsMigrations: Migration[] = [
  {
    name: "payments-0001-create-payments",
    async up(qi, sequelize) {
      await qi.createTable("payments", {
        id: { ...id(), primaryKey: true },
        /** One payment per order: the unique key is what makes ProcessPayment charge once. */
        order_id: { ...id(), unique: true },
        user_id: id(),
        method: text(32, false),
        status: text(24, false),
        amount: { type: DataTypes.BIGINT, allowNull: false },
        currency: text(3, false),
        /** JSON OrderLine[] from the command, copied onto the receipt (LINES is reserved in MySQL). */
        order_lines: { type: mediumText(sequelize), allowNull: false },
        provider_charge_id: text(100),
        /** Sent with every charge request of this payment (= the payment id). */
        idempotency_key: text(100, false),
        failure_code: text(50),
        failure_message: text(300),
        card_brand: text(20),
        card_last4: text(4),
        /** The saga asked for a refund while the charge was still open: refund it on success. */
        refund_requested: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
        refund_reason: text(200),
        /** Provider calls of the charge whose outcome came back unknown (names the retry jobs). */
        charge_tries: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
        created_at: millis(),
        updated_at: millis(),
      });
      await addCheck(qi, "payments", "payments_status_ck", "status", {
        status: { [Op.in]: [...PAYMENT_STATUSES] },
      });
      await addCheck(qi, "payments", "payments_amount_ck", "amount", { amount: { [Op.gt]: 0 } });
      await qi.addIndex("payments", ["provider_charge_id"], {
        name: "payments_provider_charge_id",
      });
      await qi.addIndex("payments", ["user_id", "created_at"], { name: "payments_user_id" });
      await qi.addIndex("payments", ["status", "updated_at"], { name: "payments_status" });
    },
    down: (qi) => qi.dropTable("payments"),
  },
  {
    name: "payments-0002-create-payment-attempts",
    async up(qi) {
      await qi.createTable("payment_attempts", {
        payment_id: {
          ...id(),
          primaryKey: true,
          references: { model: "payments", key: "id" },
          onDelete: "CASCADE",
        },
        /** 1, 2, … per payment, across charges and refunds. */
        attempt_no: { type: DataTypes.INTEGER, allowNull: false, primaryKey: true },
        operation: text(16, false),
        /** ok, declined, rejected, server_error, timeout, network_error, circuit_open. */
        outcome: text(20, false),
        http_status: { type: DataTypes.INTEGER, allowNull: true },
        duration_ms: { type: DataTypes.INTEGER, allowNull: false },
        /** What went wrong (an error code or message), never the request. */
        error: text(300),
        created_at: millis(),
      });
    },
    down: (qi) => qi.dropTable("payment_attempts"),
  },
  {
    name: "payments-0003-create-refunds",
    async up(qi) {
      await qi.createTable("refunds", {
        id: { ...id(), primaryKey: true },
        /** Full refunds only: one per payment. */
        payment_id: {
          ...id(),
          unique: true,
          references: { model: "payments", key: "id" },
          onDelete: "CASCADE",
        },
        provider_refund_id: text(100),
        amount: { type: DataTypes.BIGINT, allowNull: false },
        currency: text(3, false),
        status: text(16, false),
        reason: text(200),
        created_at: millis(),
        updated_at: millis(),
      });
      await addCheck(qi, "refunds", "refunds_status_ck", "status", {
        status: { [Op.in]: ["PENDING", "SUCCEEDED", "FAILED"] },
      });
    },
    down: (qi) => qi.dropTable("refunds"),
  },
  {
    name: "payments-0004-create-receipts",
    async up(qi, sequelize) {
      await qi.createTable("receipts", {
        receipt_number: { ...id(), primaryKey: true },
        payment_id: {
          ...id(),
          unique: true,
          references: { model: "payments", key: "id" },
          onDelete: "CASCADE",
        },
        order_id: { ...id(), unique: true },
        user_id: id(),
        /** JSON OrderLine[]. */
        order_lines: { type: mediumText(sequelize), allowNull: false },
        total_amount: { type: DataTypes.BIGINT, allowNull: false },
        currency: text(3, false),
        method: text(32, false),
        provider_reference: text(100),
        paid_at: millis(),
      });
    },
    down: (qi) => qi.dropTable("receipts"),
  },
];
