import { DataTypes } from "sequelize";
import type { Migration } from "../../lib/infra/relational";
import { mediumText } from "../../lib/messaging/sql-types";

/**
 * The orders service's own tables (seed §8). Times are epoch milliseconds
 * (BIGINT) so comparisons (deadlines, expiry) mean the same on SQLite and
 * MySQL; amounts are integer minor units. Statuses are checked in code (the
 * order aggregate), not by CHECK constraints, so adding one needs no table
 * rebuild.
 */
// BINARY: ids and idempotency keys compare case-sensitively on MySQL too, as in code.
const id = (allowNull = false) => ({ type: DataTypes.STRING(64).BINARY, allowNull });
const millis = (allowNull = false) => ({ type: DataTypes.BIGINT, allowNull });
const minorUnits = () => ({ type: DataTypes.BIGINT, allowNull: false });
const text = (length: number, allowNull = true) => ({ type: DataTypes.STRING(length), allowNull });

export const ordersMigrations: Migration[] = [
  {
    name: "orders-0001-create-orders",
    async up(qi) {
      await qi.createTable("orders", {
        id: { ...id(), primaryKey: true },
        user_id: id(),
        status: text(20, false),
        cancel_reason: text(32),
        currency: text(3, false),
        subtotal: minorUnits(),
        total: minorUnits(),
        /** JSON ShippingAddress. */
        shipping_address: { type: DataTypes.TEXT, allowNull: false },
        /** card, cash_on_delivery or bank_transfer: never a token. */
        payment_method: text(32, false),
        payment_id: text(64),
        payment_status: text(32),
        payment_provider_reference: text(255),
        cart_id: id(true),
        tracking_number: text(100),
        payment_deadline: millis(true),
        version: { type: DataTypes.INTEGER, allowNull: false },
        created_at: millis(),
        updated_at: millis(),
      });
      await qi.addIndex("orders", ["user_id", "created_at"], { name: "orders_user_created" });
      // The payment-timeout sweeper's two questions.
      await qi.addIndex("orders", ["status", "payment_deadline"], {
        name: "orders_status_deadline",
      });
      await qi.addIndex("orders", ["status", "created_at"], { name: "orders_status_created" });

      await qi.createTable("order_lines", {
        order_id: {
          ...id(),
          primaryKey: true,
          references: { model: "orders", key: "id" },
          onDelete: "CASCADE",
        },
        line_no: { type: DataTypes.INTEGER, allowNull: false, primaryKey: true },
        product_id: id(),
        sku: text(64, false),
        name: text(200, false),
        quantity: { type: DataTypes.INTEGER, allowNull: false },
        unit_price: minorUnits(),
        line_total: minorUnits(),
      });
    },
    async down(qi) {
      await qi.dropTable("order_lines");
      await qi.dropTable("orders");
    },
  },
  {
    name: "orders-0002-create-saga",
    async up(qi) {
      await qi.createTable("order_saga", {
        order_id: {
          ...id(),
          primaryKey: true,
          references: { model: "orders", key: "id" },
          onDelete: "CASCADE",
        },
        /** RESERVING_STOCK, AWAITING_PAYMENT, COMPLETED or CANCELLED. */
        state: text(32, false),
        last_step: text(64, false),
        /** Steps in saga_steps: the next one's seq is step_count + 1. */
        step_count: { type: DataTypes.INTEGER, allowNull: false },
        /** The request that started the saga: the correlation of what the sweeper sends. */
        correlation_id: text(128),
        /** A card's provider token, kept only until ProcessPayment carries it. */
        pending_payment_token: text(255),
        started_at: millis(),
        updated_at: millis(),
      });

      await qi.createTable("saga_steps", {
        order_id: { ...id(), primaryKey: true },
        seq: { type: DataTypes.INTEGER, allowNull: false, primaryKey: true },
        step: text(64, false),
        detail: text(500),
        message_id: text(64),
        causation_id: text(64),
        correlation_id: text(128),
        at: millis(),
      });
    },
    async down(qi) {
      await qi.dropTable("saga_steps");
      await qi.dropTable("order_saga");
    },
  },
  {
    name: "orders-0003-create-idempotency-keys",
    async up(qi, sequelize) {
      await qi.createTable("idempotency_keys", {
        user_id: { ...id(), primaryKey: true },
        idem_key: { type: DataTypes.STRING(255).BINARY, allowNull: false, primaryKey: true },
        /** SHA-256 (hex) of the canonical request. */
        request_hash: text(64, false),
        /** in_progress or completed. */
        status: text(16, false),
        /** in_progress: who works on it, and until when before another request may take over. */
        claim_token: text(36),
        claimed_until: millis(true),
        order_id: id(true),
        response_status: { type: DataTypes.INTEGER, allowNull: true },
        response_body: { type: mediumText(sequelize), allowNull: true },
        created_at: millis(),
        expires_at: millis(),
      });
      await qi.addIndex("idempotency_keys", ["expires_at"], { name: "idempotency_keys_expires" });
    },
    async down(qi) {
      await qi.dropTable("idempotency_keys");
    },
  },
];
