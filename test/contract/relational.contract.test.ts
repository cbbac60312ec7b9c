import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  DataTypes,
  Model,
  ModelStatic,
  QueryTypes,
  Transaction,
  UniqueConstraintError,
} from "sequelize";
import sqlite3 from "sqlite3";
import { Migration, openDatabase, RelationalDatabase } from "../../lib/infra/relational";
import { isUniqueViolation } from "../../lib/infra/relational/errors";
import { adaptersFor, dropMysqlDatabases, freshMysqlUrl, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The relational port (lib/infra/relational) against embedded SQLite and, when
 * configured, MariaDB/MySQL: migrations, transactions and the concurrency rules
 * services rely on (ARCHITECTURE §3).
 */

describe.each(adaptersFor("mysql"))("relational database contract (%s)", (adapter) => {
  /** Per-service databases hang off this base and are dropped after the suite. */
  const mysqlUrl = adapter === "mysql" ? freshMysqlUrl() : undefined;
  /** Directories for "nodes" that share an embedded database. */
  const dirs: string[] = [];
  let opened: RelationalDatabase[] = [];

  /**
   * The service's database. `sharedDir` is where an embedded node keeps its
   * files: two embedded nodes share a database only by sharing that directory
   * (without it each gets a private temporary one). On MySQL, every node
   * opening the same service shares `<base>_<service>`.
   */
  async function open(
    service: string,
    sharedDir?: string,
    logging?: (sql: string) => void,
  ): Promise<RelationalDatabase> {
    const db = await openDatabase(
      service,
      mysqlUrl
        ? { mysqlUrl, perServiceDatabase: true, sqliteStorage: "unused", logging }
        : { sqliteStorage: sharedDir ?? ":memory:", perServiceDatabase: false, logging },
    );
    opened.push(db);
    return db;
  }

  /**
   * A new service's database opened twice on one file (or MySQL database):
   * `db`, and `reference`, whose statements a query hook sends through
   * Sequelize's own path, values written into the text.
   */
  async function openWithReference(prefix: string) {
    const service = uniqueName(prefix);
    const dir = adapter === "embedded" ? tempDir() : undefined;
    const db = await open(service, dir);
    const reference = await open(service, dir);
    reference.sequelize.addHook("beforeQuery", () => undefined);
    return { db, reference, service, dir };
  }

  function tempDir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "relational-contract-"));
    dirs.push(dir);
    return dir;
  }

  afterEach(async () => {
    // A second close of a database a test already closed is harmless here.
    await Promise.allSettled(opened.map((db) => db.close()));
    opened = [];
  });

  afterAll(async () => {
    if (mysqlUrl) await dropMysqlDatabases(mysqlUrl);
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  const count = async (db: RelationalDatabase, table: string) =>
    Number(
      (
        (await db.sequelize.query(`SELECT COUNT(*) AS n FROM ${table}`, {
          plain: true,
        })) as { n: number | string }
      ).n,
    );

  describe("migrations", () => {
    /** Migrations that record each `up` in `calls` and insert a row into `steps`. */
    function recordingMigrations(names: string[], calls: string[]): Migration[] {
      return names.map((name) => ({
        name,
        async up(qi) {
          calls.push(name);
          if (name === names[0])
            await qi.createTable("steps", {
              id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
              migration: { type: DataTypes.STRING(100), allowNull: false },
            });
          await qi.bulkInsert("steps", [{ migration: name }]);
        },
      }));
    }

    it("applies migrations in list order, records them and does not apply them again", async () => {
      const db = await open("ordered");
      const calls: string[] = [];
      // Names sort differently from the list: the list decides.
      const names = ["0002-zeta", "0001-alpha", "0003-beta"];
      const migrations = recordingMigrations(names, calls);

      expect(await db.migrate(migrations)).toEqual(names);
      expect(calls).toEqual(names);
      const recorded = (await db.sequelize.query("SELECT name FROM schema_migrations", {
        type: QueryTypes.SELECT,
      })) as { name: string }[];
      expect(recorded.map((r) => r.name).sort()).toEqual([...names].sort());

      expect(await db.migrate(migrations)).toEqual([]);
      expect(calls).toHaveLength(3);
      expect(await count(db, "steps")).toBe(3);
    });

    it("applies a migration added later to the list, and only that one", async () => {
      const db = await open("growing");
      const calls: string[] = [];
      const migrations = recordingMigrations(["0001-a", "0002-b", "0003-c"], calls);

      expect(await db.migrate(migrations.slice(0, 2))).toEqual(["0001-a", "0002-b"]);
      expect(await db.migrate(migrations)).toEqual(["0003-c"]);
      expect(calls).toEqual(["0001-a", "0002-b", "0003-c"]);
      expect(await count(db, "steps")).toBe(3);
    });

    // Both adapters lock around migrate: GET_LOCK on MySQL, an exclusive lock file on SQLite.
    const migratesOnce =
      "two nodes migrating the same database at once apply each migration exactly once";
    it(migratesOnce, async () => {
      const dir = tempDir();
      const service = "shared";
      const [nodeA, nodeB] = await Promise.all([open(service, dir), open(service, dir)]);
      const names = ["0001-create", "0002-seed"];
      let inFirst = 0;
      const migrations: Migration[] = [
        {
          name: names[0],
          async up(qi) {
            await qi.createTable("seeded", {
              id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
              label: { type: DataTypes.STRING(20), allowNull: false },
            });
            // Rendezvous: if the other node can get here too, wait for it, so
            // a missing lock shows every time rather than by luck. With the
            // lock it never arrives and this gives up after 300 ms.
            inFirst++;
            await waitFor(() => inFirst >= 2, { timeoutMs: 300 }).catch(() => undefined);
          },
        },
        {
          name: names[1],
          async up(qi) {
            await qi.bulkInsert("seeded", [{ label: "seed" }]);
          },
        },
      ];

      const applied = await Promise.all([nodeA.migrate(migrations), nodeB.migrate(migrations)]);
      expect(applied.flat().sort()).toEqual(names);
      expect(applied.map((a) => a.length).sort()).toEqual([0, 2]);
      expect(inFirst).toBe(1);
      expect(await count(nodeA, "seeded")).toBe(1);
      expect(await count(nodeB, "schema_migrations")).toBe(2);
    });

    it("gives each service its own database", async () => {
      const dir = adapter === "embedded" ? tempDir() : undefined;
      const db = await open("catalog-x", dir);
      if (adapter === "mysql") {
        const base = new URL(mysqlUrl!).pathname.slice(1);
        const expected = `${base}_catalog_x`;
        const current = (await db.sequelize.query("SELECT DATABASE() AS name", {
          plain: true,
        })) as { name: string };
        expect(current.name).toBe(expected);
        const [rows] = (await db.sequelize.query(`SHOW DATABASES LIKE '${expected}'`)) as [
          Record<string, string>[],
          unknown,
        ];
        expect(rows.map((r) => Object.values(r)[0])).toEqual([expected]);
      } else {
        expect(db.adapter).toBe("sqlite");
        expect(await db.ping()).toBe(true); // the file is created on first use
        expect(fs.existsSync(path.join(dir!, "catalog-x.sqlite"))).toBe(true);
      }
    });
  });

  // A server on this host can be reached through its Unix socket, named in the URL (CI's is local).
  const localMysql =
    mysqlUrl && ["127.0.0.1", "localhost", "[::1]"].includes(new URL(mysqlUrl).hostname);
  if (adapter === "mysql" && localMysql)
    it("connects through a Unix socket named in the URL (?socketPath=), per-service database included", async () => {
      const overTcp = await open("socket-probe");
      const { socket } = (await overTcp.sequelize.query("SELECT @@socket AS socket", {
        plain: true,
      })) as { socket: string };
      expect(fs.existsSync(socket)).toBe(true);
      const url = new URL(mysqlUrl!);
      url.hostname = "localhost";
      url.port = "";
      url.searchParams.set("socketPath", socket);
      const db = await openDatabase("socket-probe", {
        mysqlUrl: url.toString(),
        perServiceDatabase: true,
        sqliteStorage: "unused",
      });
      opened.push(db);
      const seen = (await db.sequelize.query("SELECT DATABASE() AS name, CONNECTION_ID() AS id", {
        plain: true,
      })) as { name: string; id: number };
      const [client] = (await overTcp.sequelize.query(
        "SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = ?",
        { replacements: [seen.id], type: QueryTypes.SELECT },
      )) as { HOST: string }[];
      expect(seen.name).toBe(`${url.pathname.slice(1)}_socket_probe`);
      // A TCP client shows as host:port; a socket client as "localhost".
      expect(client.HOST).toBe("localhost");
    });

  describe("transactions", () => {
    let db: RelationalDatabase;
    let Counter: ModelStatic<Model<{ id: string; value: number }>>;
    let sqls: string[];

    beforeEach(async () => {
      sqls = [];
      db = await open(uniqueName("tx"), undefined, (sql) => sqls.push(sql));
      await db.migrate([
        {
          name: "0001-counters",
          up: async (qi) => {
            await qi.createTable("counters", {
              id: { type: DataTypes.STRING(20), primaryKey: true },
              value: { type: DataTypes.INTEGER, allowNull: false },
            });
            await qi.bulkInsert("counters", [{ id: "c", value: 0 }]);
          },
        },
      ]);
      Counter = db.sequelize.define(
        "Counter",
        { id: { type: DataTypes.STRING(20), primaryKey: true }, value: DataTypes.INTEGER },
        { tableName: "counters", timestamps: false },
      );
    });

    const value = async (id = "c") =>
      (
        (await db.sequelize.query("SELECT value FROM counters WHERE id = ?", {
          replacements: [id],
          plain: true,
        })) as { value: number } | null
      )?.value;

    it("commits a transaction and returns its result", async () => {
      const result = await db.transaction(async (tx) => {
        await db.sequelize.query("INSERT INTO counters (id, value) VALUES ('kept', 7)", {
          transaction: tx,
        });
        return "done";
      });
      expect(result).toBe("done");
      expect(await value("kept")).toBe(7);
    });

    it("rolls back a transaction that throws, and rethrows its error", async () => {
      const failure = new Error("changed my mind");
      await expect(
        db.transaction(async (tx) => {
          await db.sequelize.query("INSERT INTO counters (id, value) VALUES ('gone', 1)", {
            transaction: tx,
          });
          await db.sequelize.query("UPDATE counters SET value = 99 WHERE id = 'c'", {
            transaction: tx,
          });
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(await value("gone")).toBeUndefined();
      expect(await value()).toBe(0);
    });

    it("runs 20 concurrent read-modify-write transactions without losing an update", async () => {
      // The rule for services: read what you are about to change with
      // lock: tx.LOCK.UPDATE (SELECT … FOR UPDATE on MySQL; SQLite holds the
      // write lock for the whole transaction and needs no clause).
      await Promise.all(
        Array.from({ length: 20 }, () =>
          db.transaction(async (tx) => {
            const row = await Counter.findByPk("c", { transaction: tx, lock: tx.LOCK.UPDATE });
            const current = row!.get("value") as number;
            await row!.update({ value: current + 1 }, { transaction: tx });
          }),
        ),
      );
      expect(await value()).toBe(20);
      const locking = sqls.filter((s) => /FOR UPDATE/i.test(s));
      expect(locking).toHaveLength(adapter === "mysql" ? 20 : 0);
    });

    it("a conditional decrement never oversells: 30 buyers, 10 units, exactly 10 succeed", async () => {
      await db.sequelize.query("UPDATE counters SET value = 10 WHERE id = 'c'");
      const outcomes = await Promise.all(
        Array.from({ length: 30 }, () =>
          db.transaction(async (tx) => {
            const [, affected] = (await db.sequelize.query(
              "UPDATE counters SET value = value - 1 WHERE id = 'c' AND value >= 1",
              { type: QueryTypes.UPDATE, transaction: tx },
            )) as unknown as [unknown, number];
            return affected;
          }),
        ),
      );
      expect(outcomes.filter((n) => n === 1)).toHaveLength(10);
      expect(outcomes.filter((n) => n === 0)).toHaveLength(20);
      expect(await value()).toBe(0);
    });

    it("keeps a write made outside a transaction when a concurrent transaction rolls back", async () => {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const failing = db
        .transaction(async (tx) => {
          await db.sequelize.query("UPDATE counters SET value = 100 WHERE id = 'c'", {
            transaction: tx,
          });
          await held;
          throw new Error("roll back");
        })
        .catch((err: Error) => err.message);
      const outside = db.sequelize.query("INSERT INTO counters (id, value) VALUES ('d', 1)");
      setTimeout(release, 50);
      expect(await failing).toBe("roll back");
      await outside;
      expect(await value()).toBe(0);
      expect(await value("d")).toBe(1);
    });

    const bump = (tx: Transaction | undefined) =>
      db.sequelize.query("UPDATE counters SET value = value + 1 WHERE id = 'c'", {
        transaction: tx,
      });

    it("commits a single statement, with no transaction around it on MySQL", async () => {
      sqls.length = 0;
      const result = await db.singleStatement(async (tx) => {
        await bump(tx);
        return "done";
      });
      expect(result).toBe("done");
      const bracketed = sqls.filter((s) => /START TRANSACTION|BEGIN|COMMIT/i.test(s));
      // On SQLite every write takes its turn in the transaction queue.
      expect(bracketed).toHaveLength(adapter === "mysql" ? 0 : 2);
      expect(await value()).toBe(1);
    });

    it("loses no update among concurrent single statements and transactions", async () => {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 2 ? db.singleStatement(bump) : db.transaction(async (tx) => void (await bump(tx))),
        ),
      );
      expect(await value()).toBe(20);
    });
  });

  /**
   * The raw statements every repository runs (`sequelize.query(sql, {
   * replacements, type, transaction })`): on MySQL they skip Sequelize's
   * per-query bookkeeping (lib/infra/relational/direct-statements.ts), so these
   * pin that the answers, the escaping and the errors are Sequelize's own. A
   * query hook sends every statement of the reference through Sequelize: each
   * answer is compared with its.
   */
  describe("raw statements", () => {
    let db: RelationalDatabase;
    let reference: RelationalDatabase;
    let service: string;
    let dir: string | undefined;

    beforeEach(async () => {
      ({ db, reference, service, dir } = await openWithReference("raw"));
      await db.migrate([
        {
          name: "0001-items",
          up: async (qi) => {
            await qi.createTable("items", {
              id: { type: DataTypes.STRING(40), primaryKey: true },
              label: { type: DataTypes.STRING(200), allowNull: true },
              qty: { type: DataTypes.INTEGER, allowNull: false },
            });
          },
        },
      ]);
    });

    const insert = (on: RelationalDatabase, id: string, qty: number, tx?: Transaction) =>
      on.sequelize.query("INSERT INTO items (id, label, qty) VALUES (?, ?, ?)", {
        replacements: [id, `item ${id}`, qty],
        type: QueryTypes.INSERT,
        transaction: tx,
      });

    it("answers each statement type exactly as Sequelize does", async () => {
      // [insert id, affected rows]; the id is SQLite's rowid, so only its type compares.
      const [ownId, ownAffected] = (await insert(db, "a", 1)) as [unknown, number];
      const [referenceId, referenceAffected] = (await insert(reference, "b", 1)) as [
        unknown,
        number,
      ];
      expect([ownAffected, referenceAffected]).toEqual([1, 1]);
      expect(typeof ownId).toBe(typeof referenceId);

      const select = (on: RelationalDatabase) =>
        on.sequelize.query("SELECT id, label, qty FROM items WHERE qty = :qty ORDER BY id", {
          replacements: { qty: 1 },
          type: QueryTypes.SELECT,
        });
      const rows = await select(db);
      expect(rows).toEqual([
        { id: "a", label: "item a", qty: 1 },
        { id: "b", label: "item b", qty: 1 },
      ]);
      expect(rows).toEqual(await select(reference));
      expect(Object.getPrototypeOf(rows[0])).toBe(Object.prototype);

      const update = (on: RelationalDatabase, id: string) =>
        on.sequelize.query("UPDATE items SET qty = qty + 1 WHERE id = ?", {
          replacements: [id],
          type: QueryTypes.UPDATE,
        });
      const updated = await update(db, "a");
      expect(updated).toEqual([undefined, 1]);
      expect(updated).toEqual(await update(reference, "b"));
      expect(await update(db, "missing")).toEqual(await update(reference, "missing"));

      const untyped = (on: RelationalDatabase, tx: Transaction) =>
        on.sequelize.query("UPDATE items SET qty = 0 WHERE qty > 100", { transaction: tx });
      const [own, sequelizes] = [
        await db.transaction((tx) => untyped(db, tx)),
        await reference.transaction((tx) => untyped(reference, tx)),
      ];
      expect(own).toEqual(sequelizes);
    });

    it("escapes replacements as Sequelize does: quotes, backslashes, NULL, lists", async () => {
      const tricky = ["it's", "back\\slash", "quote \" and '' twice", "émoji 🛒", "-- comment"];
      for (const [i, label] of tricky.entries())
        await db.sequelize.query("INSERT INTO items (id, label, qty) VALUES (:id, :label, :qty)", {
          replacements: { id: `t${i}`, label, qty: i },
          type: QueryTypes.INSERT,
        });
      await insert(db, "n", 9);
      await db.sequelize.query("UPDATE items SET label = ? WHERE id = ?", {
        replacements: [null, "n"],
        type: QueryTypes.UPDATE,
      });
      const rows = await db.sequelize.query<{ id: string; label: string | null }>(
        "SELECT id, label FROM items WHERE id IN (?) ORDER BY id",
        {
          replacements: [[...tricky.keys()].map((i) => `t${i}`).concat("n")],
          type: QueryTypes.SELECT,
        },
      );
      expect(rows).toEqual([
        { id: "n", label: null },
        ...tricky.map((label, i) => ({ id: `t${i}`, label })),
      ]);
    });

    it("reports a duplicate key as a unique violation and keeps the transaction usable", async () => {
      await insert(db, "dup", 1);
      const outcome = await db.transaction(async (tx) => {
        const error = await insert(db, "dup", 2, tx).then(
          () => undefined,
          (err: unknown) => err,
        );
        await insert(db, "after", 3, tx);
        return error;
      });
      expect(outcome).toBeInstanceOf(UniqueConstraintError);
      expect(isUniqueViolation(outcome)).toBe(true);
      const [after] = await db.sequelize.query<{ qty: number }>(
        "SELECT qty FROM items WHERE id = 'after'",
        { type: QueryTypes.SELECT },
      );
      expect(after.qty).toBe(3);
    });

    it("refuses a statement in a transaction that has ended", async () => {
      let ended!: Transaction;
      await db.transaction(async (tx) => void (ended = tx));
      await expect(insert(db, "late", 1, ended)).rejects.toThrow(/commit has been called/);
    });

    if (adapter === "embedded")
      it("hands a write that found the file locked past its busy timeout to Sequelize's retry", async () => {
        // Another process's connection holds the write lock for 600 ms; ours gives up after 100.
        const manager = db.sequelize.connectionManager as unknown as {
          getConnection(
            options: object,
          ): Promise<{ configure(o: "busyTimeout", ms: number): void }>;
        };
        (await manager.getConnection({})).configure("busyTimeout", 100);
        const other = new sqlite3.Database(path.join(dir!, `${service}.sqlite`));
        const exec = (sql: string) =>
          new Promise<void>((resolve, reject) =>
            other.exec(sql, (err) => (err ? reject(err) : resolve())),
          );
        try {
          await exec(
            "BEGIN IMMEDIATE; INSERT INTO items (id, label, qty) VALUES ('theirs', NULL, 1);",
          );
          const released = new Promise((resolve) => setTimeout(resolve, 600)).then(() =>
            exec("COMMIT"),
          );
          const started = Date.now();
          const [, affected] = (await insert(db, "ours", 2)) as [unknown, number];
          expect(affected).toBe(1);
          expect(Date.now() - started).toBeGreaterThanOrEqual(500);
          await released;
          const rows = await db.sequelize.query("SELECT id FROM items ORDER BY id", {
            type: QueryTypes.SELECT,
          });
          expect(rows).toEqual([{ id: "ours" }, { id: "theirs" }]);
        } finally {
          await new Promise((resolve) => other.close(resolve));
        }
      });

    if (adapter === "mysql")
      it("runs a deadlock victim's transaction again from the start", async () => {
        await insert(db, "x", 0);
        await insert(db, "y", 0);
        const bump = (id: string, tx: Transaction) =>
          db.sequelize.query("UPDATE items SET qty = qty + 1 WHERE id = ?", {
            replacements: [id],
            type: QueryTypes.UPDATE,
            transaction: tx,
          });
        let bothHoldOne!: () => void;
        const holding = new Promise<void>((resolve) => (bothHoldOne = resolve));
        let held = 0;
        const attempts = { xy: 0, yx: 0 };
        // Each locks one row, waits until the other holds its row, then wants the other's.
        const crossing = (first: "x" | "y", second: "x" | "y", key: "xy" | "yx") =>
          db.transaction(async (tx) => {
            attempts[key]++;
            await bump(first, tx);
            if (++held === 2) bothHoldOne();
            await holding;
            await bump(second, tx);
          });
        await Promise.all([crossing("x", "y", "xy"), crossing("y", "x", "yx")]);
        expect(attempts.xy + attempts.yx).toBe(3);
        const rows = await db.sequelize.query<{ id: string; qty: number }>(
          "SELECT id, qty FROM items ORDER BY id",
          { type: QueryTypes.SELECT },
        );
        expect(rows.map((r) => r.qty)).toEqual([2, 2]);
      });
  });

  if (adapter === "embedded")
    describe("prepared statements (SQLite)", () => {
      let db: RelationalDatabase;
      let reference: RelationalDatabase;

      beforeEach(async () => {
        ({ db, reference } = await openWithReference("prepared"));
        await db.migrate([
          {
            name: "0001-cells",
            up: async (_qi, sequelize) => {
              // One column of each affinity, and one with none.
              await sequelize.query(
                `CREATE TABLE cells (id TEXT PRIMARY KEY, i INTEGER, b BIGINT, t TEXT,
                   r REAL, n NUMERIC, d DATETIME, x)`,
              );
            },
          },
        ]);
      });

      const CELLS = ["i", "b", "t", "r", "n", "d", "x"];
      const put = (on: RelationalDatabase, id: string, values: unknown[]) =>
        on.sequelize.query(
          `INSERT INTO cells (id, ${CELLS.join(", ")}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          { replacements: [id, ...values], type: QueryTypes.INSERT },
        );
      /** Each cell's value and SQLite's storage class for it. */
      const stored = (on: RelationalDatabase, id: string) =>
        on.sequelize.query(
          `SELECT ${CELLS.map((c) => `${c}, typeof(${c}) AS ${c}_type`).join(", ")}
             FROM cells WHERE id = ?`,
          { replacements: [id], type: QueryTypes.SELECT },
        );

      it("stores and answers what the statement with its values written in does", async () => {
        const now = Date.now();
        const samples: unknown[][] = [
          [1, 2, 3, 4, 5, 6, 7],
          [now, now, now, now, now, now, now], // beyond 32 bits: bound as floating point by sqlite3
          [-now, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 1, 0, -1, 2 ** 31 - 1],
          [true, false, true, false, true, false, true],
          ["12", "it's", "007", "1e3", " 5", "x", "3.0"],
          [null, null, null, null, null, null, null],
        ];
        for (const [i, values] of samples.entries()) {
          await put(db, `own${i}`, values);
          await put(reference, `ref${i}`, values);
          expect(await stored(db, `own${i}`)).toEqual(await stored(reference, `ref${i}`));
        }
        // Compared with a column, a bound value finds the rows the written one does.
        for (const column of CELLS)
          for (const bound of [now, 5, "5", true]) {
            const sql = `SELECT id FROM cells WHERE ${column} = ? OR ${column} < ? ORDER BY id`;
            const options = { replacements: [bound, bound], type: QueryTypes.SELECT as const };
            const mine = await db.sequelize.query<{ id: string }>(sql, options);
            const theirs = await reference.sequelize.query<{ id: string }>(sql, options);
            expect(mine).toEqual(theirs);
          }
        // Lists, and lists of lists, as Sequelize expands them.
        await db.sequelize.query("INSERT INTO cells (id, i, b) VALUES ?", {
          replacements: [
            [
              ["l1", 1, now],
              ["l2", 2, now + 1],
            ],
          ],
          type: QueryTypes.INSERT,
        });
        const listed = await db.sequelize.query(
          "SELECT id, b, typeof(b) AS b_type FROM cells WHERE id IN (?) ORDER BY id",
          { replacements: [["l1", "l2", "missing"]], type: QueryTypes.SELECT },
        );
        expect(listed).toEqual([
          { id: "l1", b: now, b_type: "integer" },
          { id: "l2", b: now + 1, b_type: "integer" },
        ]);
      });

      it("prepares a statement once per connection and runs it again with new values", async () => {
        const prepare = jest.spyOn(sqlite3.Database.prototype, "prepare");
        let prepared: string[];
        try {
          for (let i = 0; i < 20; i++) await put(db, `p${i}`, [i, i, `${i}`, i, i, i, i]);
          for (let i = 0; i < 5; i++)
            await db.transaction((tx) =>
              db.sequelize.query("UPDATE cells SET i = i + 1 WHERE id = ?", {
                replacements: ["p0"],
                type: QueryTypes.UPDATE,
                transaction: tx,
              }),
            );
          const rows = await db.sequelize.query<{ id: string }>(
            "SELECT id FROM cells WHERE i >= ? ORDER BY i",
            { replacements: [18], type: QueryTypes.SELECT },
          );
          expect(rows.map((r) => r.id)).toEqual(["p18", "p19"]);
          prepared = prepare.mock.calls.map(([sql]) => String(sql));
        } finally {
          prepare.mockRestore();
        }
        expect(prepared.filter((sql) => sql.startsWith("INSERT INTO cells"))).toHaveLength(1);
        // The writer connection's BEGIN and COMMIT, once each for the five transactions.
        expect(prepared.filter((sql) => /^(BEGIN|COMMIT)/.test(sql))).toHaveLength(2);
      });

      it("prepares a statement that failed again, and closes with statements prepared", async () => {
        await put(db, "dup", [1, 1, "a", 1, 1, 1, 1]);
        await expect(put(db, "dup", [2, 2, "b", 2, 2, 2, 2])).rejects.toBeInstanceOf(
          UniqueConstraintError,
        );
        await put(db, "next", [3, 3, "c", 3, 3, 3, 3]);
        // More distinct statements than a connection keeps: the oldest are finalized.
        for (let n = 1; n <= 260; n++)
          await db.sequelize.query("SELECT COUNT(*) AS n FROM cells WHERE id IN (?)", {
            replacements: [Array.from({ length: n }, (_, k) => `id${k}`)],
            type: QueryTypes.SELECT,
          });
        await db.transaction((tx) =>
          db.sequelize.query("UPDATE cells SET i = ? WHERE id = ?", {
            replacements: [9, "next"],
            type: QueryTypes.UPDATE,
            transaction: tx,
          }),
        );
        await expect(db.close()).resolves.toBeUndefined();
        expect(await stored(reference, "next")).toMatchObject([{ i: 9, t: "c" }]);
      });

      it("keeps a transaction moving while writes outside it wait for the file's lock", async () => {
        // Each waiting write sits in SQLite's busy handler on a worker thread; were they
        // to run side by side, they would hold every thread the transaction needs.
        let release!: () => void;
        const holding = new Promise<void>((resolve) => (release = resolve));
        let locked!: () => void;
        const lockTaken = new Promise<void>((resolve) => (locked = resolve));
        const transaction = db.transaction(async (tx) => {
          await db.sequelize.query("INSERT INTO cells (id, i) VALUES (?, ?)", {
            replacements: ["tx-first", 1],
            type: QueryTypes.INSERT,
            transaction: tx,
          });
          locked();
          await holding;
          for (let i = 0; i < 5; i++)
            await db.sequelize.query("UPDATE cells SET i = i + 1 WHERE id = ?", {
              replacements: ["tx-first"],
              type: QueryTypes.UPDATE,
              transaction: tx,
            });
        });
        await lockTaken;
        // Six different statements (one statement runs one call at a time anyway).
        const outside = CELLS.slice(0, 6).map((column, i) =>
          db.sequelize.query(`INSERT INTO cells (id, ${column}) VALUES (?, ?)`, {
            replacements: [`outside${i}`, i],
            type: QueryTypes.INSERT,
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
        const started = Date.now();
        release();
        await transaction;
        expect(Date.now() - started).toBeLessThan(2_000);
        await Promise.all(outside);
        expect(await count(db, "cells")).toBe(7);
      });
    });

  describe("health", () => {
    it("answers ping while open, and false once closed", async () => {
      const db = await open("pinged");
      expect(await db.ping()).toBe(true);
      await db.close();
      expect(await db.ping()).toBe(false);
    });
  });
});
