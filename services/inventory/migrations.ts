import { col, DataTypes, Op, QueryInterface, WhereOptions } from "sequelize";
import type { Migration } from "../../lib/infra/relational";

/**
 * The inventory service's own tables. Times are epoch milliseconds (BIGINT),
 * like the outbox's, so comparisons (expiry) mean the same on SQLite and
 * MySQL. Ids are the other services' ids (product ids, order ids) as strings.
 *
 * CHECK constraints back up what every statement already keeps
 * (0 ≤ reserved ≤ on_hand, positive quantities): MariaDB ≥ 10.2, MySQL ≥ 8.0.16
 * and SQLite enforce them.
 */
// BINARY: ids compare case-sensitively on MySQL too, as they do in code and on SQLite.
const id = () => ({ type: DataTypes.STRING(64).BINARY, allowNull: false });
const millis = (allowNull = false) => ({ type: DataTypes.BIGINT, allowNull });
const count = () => ({ type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 });

async function addCheck(
  qi: QueryInterface,
  table: string,
  name: string,
  field: string,
  where: WhereOptions,
): Promise<void> {
  await qi.addConstraint(table, { type: "check", name, fields: [field], where });
}

export const inventoryMigrations: Migration[] = [
  {
    name: "inventory-0001-create-stock-levels",
    async up(qi) {
      await qi.createTable("stock_levels", {
        product_id: { ...id(), primaryKey: true },
        on_hand: count(),
        reserved: count(),
        /** +1 on every change of the row: the StockChanged version. */
        version: count(),
        updated_at: millis(),
      });
      await addCheck(qi, "stock_levels", "stock_levels_on_hand_ck", "on_hand", {
        on_hand: { [Op.gte]: 0 },
      });
      await addCheck(qi, "stock_levels", "stock_levels_reserved_ck", "reserved", {
        reserved: { [Op.gte]: 0, [Op.lte]: col("on_hand") },
      });
    },
    down: (qi) => qi.dropTable("stock_levels"),
  },
  {
    name: "inventory-0002-create-reservations",
    async up(qi) {
      await qi.createTable("reservations", {
        /** The order id: the primary key is what makes reserve idempotent. */
        id: { ...id(), primaryKey: true },
        status: { type: DataTypes.STRING(16), allowNull: false },
        /** Why it was rejected or released. */
        reason: { type: DataTypes.STRING(200), allowNull: true },
        /** REJECTED: JSON [{productId, requested, available}] as seen when it was rejected. */
        shortages: { type: DataTypes.TEXT, allowNull: true },
        /** RESERVED: when the sweeper releases it if still open. */
        expires_at: millis(true),
        created_at: millis(),
        updated_at: millis(),
      });
      await addCheck(qi, "reservations", "reservations_status_ck", "status", {
        status: { [Op.in]: ["RESERVED", "REJECTED", "COMMITTED", "RELEASED"] },
      });
      await qi.addIndex("reservations", ["status", "expires_at"], {
        name: "reservations_status_expires_at",
      });

      await qi.createTable("reservation_lines", {
        reservation_id: {
          ...id(),
          primaryKey: true,
          references: { model: "reservations", key: "id" },
          onDelete: "CASCADE",
        },
        product_id: { ...id(), primaryKey: true },
        quantity: { type: DataTypes.INTEGER, allowNull: false },
      });
      await addCheck(qi, "reservation_lines", "reservation_lines_quantity_ck", "quantity", {
        quantity: { [Op.gt]: 0 },
      });
    },
    async down(qi) {
      await qi.dropTable("reservation_lines");
      await qi.dropTable("reservations");
    },
  },
];
