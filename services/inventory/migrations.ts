import { col, DataTypes, Op, QueryInterface, QueryTypes, Sequelize, WhereOptions } from "sequelize";
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

const FIRST_STATUSES = ["RESERVED", "REJECTED", "COMMITTED", "RELEASED"];
/** inventory-0003: a committed reservation can be returned (ReturnStock). */
const WITH_RETURNED = [...FIRST_STATUSES, "RETURNED"];

/** Replaces the status CHECK of `reservations` with one allowing `statuses`. */
async function allowReservationStatuses(
  qi: QueryInterface,
  sequelize: Sequelize,
  statuses: string[],
): Promise<void> {
  if (sequelize.getDialect() !== "sqlite") {
    await sequelize.query("ALTER TABLE reservations DROP CONSTRAINT reservations_status_ck");
    await addCheck(qi, "reservations", "reservations_status_ck", "status", {
      status: { [Op.in]: statuses },
    });
    return;
  }
  await rebuildSqliteTable(sequelize, "reservations", (createSql) => {
    const check = /CONSTRAINT `reservations_status_ck` CHECK \(`status` IN \([^)]*\)\)/;
    if (!check.test(createSql)) throw new Error("reservations_status_ck not found");
    const list = statuses.map((s) => `'${s}'`).join(", ");
    return createSql.replace(
      check,
      `CONSTRAINT \`reservations_status_ck\` CHECK (\`status\` IN (${list}))`,
    );
  });
}

/**
 * SQLite cannot alter a constraint: the table is rebuilt from its edited
 * CREATE statement (https://sqlite.org/lang_altertable.html#otheralter), its
 * indexes re-created. Foreign keys are off meanwhile, or dropping the old
 * table would cascade to the rows that reference it (reservation_lines).
 * Runs on the default connection, where migrations run and the pragma applies.
 */
async function rebuildSqliteTable(
  sequelize: Sequelize,
  table: string,
  edit: (createSql: string) => string,
): Promise<void> {
  const schema = await sequelize.query<{ type: string; sql: string | null }>(
    "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? ORDER BY type DESC",
    { replacements: [table], type: QueryTypes.SELECT },
  );
  const createSql = schema.find((s) => s.type === "table")?.sql;
  if (!createSql) throw new Error(`table ${table} not found`);
  const indexes = schema.filter((s) => s.type === "index" && s.sql).map((s) => s.sql!);
  const next = `${table}_next`;
  const run = (sql: string) => sequelize.query(sql);
  await run("PRAGMA foreign_keys = OFF");
  try {
    await run("BEGIN IMMEDIATE");
    try {
      await run(edit(createSql).replace(`CREATE TABLE "${table}"`, `CREATE TABLE "${next}"`));
      await run(`INSERT INTO "${next}" SELECT * FROM "${table}"`);
      await run(`DROP TABLE "${table}"`);
      await run(`ALTER TABLE "${next}" RENAME TO "${table}"`);
      for (const sql of indexes) await run(sql);
      const broken = await sequelize.query("PRAGMA foreign_key_check", { type: QueryTypes.SELECT });
      if (broken.length) throw new Error(`rebuilding ${table} broke ${broken.length} reference(s)`);
      await run("COMMIT");
    } catch (err) {
      await run("ROLLBACK");
      throw err;
    }
  } finally {
    await run("PRAGMA foreign_keys = ON");
  }
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
        status: { [Op.in]: FIRST_STATUSES },
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
  {
    name: "inventory-0003-reservations-returned-status",
    up: (qi, sequelize) => allowReservationStatuses(qi, sequelize, WITH_RETURNED),
    down: (qi, sequelize) => allowReservationStatuses(qi, sequelize, FIRST_STATUSES),
  },
];
