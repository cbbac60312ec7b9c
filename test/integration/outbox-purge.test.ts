import { QueryTypes, Transaction } from "sequelize";
import { openDatabase, RelationalDatabase } from "../../lib/infra/relational";
import { OUTBOX_TABLE, outboxMigrations, OutboxStore } from "../../lib/messaging/outbox";
import { dropMysqlDatabases, freshMysqlUrl, realServersFor } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The sweeper's purge of old published outbox rows is a range DELETE; on
 * MariaDB it can deadlock with a relay marking rows of the same table (seen
 * under load in the fault tests). InnoDB then rolls the purge back as the
 * lighter transaction: the purge must run again rather than fail.
 */
const needed = realServersFor("mysql");

if (needed.length === 1)
  describe("outbox purge on MariaDB", () => {
    const mysqlUrl = freshMysqlUrl();
    let db: RelationalDatabase;

    beforeAll(async () => {
      db = await openDatabase("orders", { mysqlUrl, perServiceDatabase: true, sqliteStorage: "" });
      await db.migrate(outboxMigrations);
      await db.sequelize.query("CREATE TABLE ballast (n INT NOT NULL)");
    });

    afterAll(async () => {
      await db?.close();
      await dropMysqlDatabases(mysqlUrl);
    });

    const run = (sql: string, replacements: unknown[], transaction?: Transaction) =>
      db.sequelize.query(sql, { replacements, transaction });

    async function publishedRow(id: number): Promise<void> {
      await run(
        `INSERT INTO ${OUTBOX_TABLE} (id, message_id, topic, type, aggregate_id, envelope, headers, created_at, published_at, attempts)
         VALUES (?, ?, 'orders.events', 'OrderCreated', 'o-1', '{}', '{}', 1, ?, 1)`,
        [id, `m-${id}`, id * 100],
      );
    }

    it("is run again when chosen as a deadlock victim", async () => {
      await publishedRow(1);
      await publishedRow(2);

      // A relay-like transaction, heavier than the purge, holds row 2…
      const relay = await db.sequelize.transaction();
      await run("INSERT INTO ballast (n) VALUES " + Array(200).fill("(1)").join(","), [], relay);
      await run(`UPDATE ${OUTBOX_TABLE} SET attempts = attempts + 1 WHERE id = 2`, [], relay);
      // …the purge takes row 1 and waits for row 2…
      const purge = new OutboxStore(db).purgePublished(Date.now());
      await waitFor(async () => {
        const [waiting] = await db.sequelize.query<{ n: number }>(
          `SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t
           JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
           WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE()`,
          { type: QueryTypes.SELECT },
        );
        return Number(waiting.n) === 1;
      });
      // …and the relay then wants row 1: a deadlock, in which the purge is the victim.
      await run(`UPDATE ${OUTBOX_TABLE} SET attempts = attempts + 1 WHERE id = 1`, [], relay);
      await relay.commit();

      await expect(purge).resolves.toBeUndefined();
      const rows = await db.sequelize.query(`SELECT id FROM ${OUTBOX_TABLE}`, {
        type: QueryTypes.SELECT,
      });
      expect(rows).toEqual([]);
    });
  });
