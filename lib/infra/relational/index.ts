import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ConnectionOptions } from "node:tls";
import { QueryInterface, Sequelize, Transaction } from "sequelize";
import sqlite3 from "sqlite3";
import { SequelizeStorage, Umzug } from "umzug";
import { runRawStatementsDirectly } from "./direct-statements";

/**
 * Relational port. Each service owns its database (ARCHITECTURE §3):
 *  - MySQL/MariaDB: `<SERVICE>_MYSQL_URL` when set, otherwise MYSQL_URL with the
 *    service name appended to the database name (`shop` → `shop_users`),
 *    created on first use.
 *  - Embedded: one SQLite file per service under the storage directory, or
 *    a private in-memory database when storage is ":memory:".
 */

export interface Migration {
  /** Unique within the service, e.g. "users-0001-create-users"; applied in list order. */
  name: string;
  up(qi: QueryInterface, sequelize: Sequelize): Promise<void>;
  down?(qi: QueryInterface, sequelize: Sequelize): Promise<void>;
}

export interface RelationalDatabase {
  readonly service: string;
  readonly adapter: "mysql" | "sqlite";
  readonly sequelize: Sequelize;
  /** Applies pending migrations in the order given, once across concurrent nodes. */
  migrate(migrations: Migration[]): Promise<string[]>;
  /** Runs fn in a transaction; rolls back if it throws. Do not nest: on SQLite they run one at a time. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /**
   * Runs fn, which issues one write statement, without a transaction around
   * it where the database allows: on MySQL in autocommit (one round trip
   * instead of three; a deadlock is retried as for a transaction), on SQLite
   * in the transaction queue, where every write waits its turn. fn gets the
   * transaction to pass to the statement: undefined on MySQL.
   */
  singleStatement<T>(fn: (tx: Transaction | undefined) => Promise<T>): Promise<T>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface RelationalOptions {
  /** mysql://… for this service (already resolved), or undefined for SQLite. */
  mysqlUrl?: string;
  /** Directory for SQLite files, or ":memory:". */
  sqliteStorage: string;
  /** When the URL came from the shared MYSQL_URL, the service gets `<db>_<service>`. */
  perServiceDatabase: boolean;
  /** mysql2's `ssl` option (lib/infra/tls.ts#mysqlSslOptions): every MySQL connection uses TLS. */
  mysqlSsl?: ConnectionOptions & { verifyIdentity?: boolean };
  logging?: (sql: string) => void;
}

export async function openDatabase(
  service: string,
  opts: RelationalOptions,
): Promise<RelationalDatabase> {
  const sequelize = opts.mysqlUrl
    ? await openMysql(service, opts.mysqlUrl, opts)
    : openSqlite(service, opts.sqliteStorage, opts.logging);
  return new SequelizeDatabase(service, opts.mysqlUrl ? "mysql" : "sqlite", sequelize);
}

async function openMysql(
  service: string,
  url: string,
  { perServiceDatabase, logging, mysqlSsl }: RelationalOptions,
): Promise<Sequelize> {
  const parsed = new URL(url);
  // The same TLS for the connection that creates the database as for the pool.
  const ssl = mysqlSsl ? { ssl: mysqlSsl } : {};
  const baseDb = decodeURIComponent(parsed.pathname.replace(/^\//, "")) || "commerce";
  const database = perServiceDatabase
    ? `${baseDb}_${service.replace(/[^a-zA-Z0-9]/g, "_")}`
    : baseDb;
  if (perServiceDatabase) {
    const admin = new Sequelize(withDatabase(parsed, ""), {
      dialect: "mysql",
      logging: false,
      dialectOptions: ssl,
    });
    try {
      await admin.query(
        `CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
      );
    } finally {
      await admin.close();
    }
  }
  const sequelize = new Sequelize(withDatabase(parsed, database), {
    dialect: "mysql",
    logging: logging ?? false,
    pool: { max: 10, min: 0, idle: 10_000, acquire: 30_000 },
    dialectOptions: {
      supportBigNumbers: true,
      bigNumberStrings: false,
      dateStrings: false,
      ...ssl,
    },
    define: { charset: "utf8mb4", collate: "utf8mb4_unicode_ci" },
    timezone: "+00:00",
  });
  runRawStatementsDirectly(sequelize);
  return sequelize;
}

function withDatabase(url: URL, database: string): string {
  const copy = new URL(url.toString());
  copy.pathname = `/${database}`;
  return copy.toString();
}

/**
 * SQLite through Sequelize: a file, because Sequelize gives each transaction
 * its own connection only for files (a ":memory:" database is one shared
 * connection, where concurrent transactions collide and a stray write joins
 * whichever transaction is open). ":memory:" therefore means a private
 * temporary file, deleted on close. Transactions are IMMEDIATE (they take the
 * write lock at BEGIN, so two writers can't deadlock on a lock upgrade) and
 * queue in process (see SequelizeDatabase.transaction): waiting in SQLite's
 * busy handler would park libuv's few worker threads while the lock holder
 * needs one to commit. A write outside a transaction waits for the lock.
 */
function openSqlite(service: string, storage: string, logging?: (sql: string) => void): Sequelize {
  const temporary = storage === ":memory:";
  const dir = temporary ? fs.mkdtempSync(path.join(os.tmpdir(), `commerce-${service}-`)) : storage;
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${service}.sqlite`);
  const sequelize = new Sequelize({
    dialect: "sqlite",
    storage: file,
    logging: logging ?? false,
    transactionType: Transaction.TYPES.IMMEDIATE,
    retry: { max: 10, match: [/SQLITE_BUSY/] },
  });
  reuseOneWriterConnection(sequelize);
  runRawStatementsDirectly(sequelize);
  configureEachConnection(sequelize, (conn) => {
    conn.configure("busyTimeout", 10_000);
    // WAL + NORMAL: commits skip the fsync; the file is never corrupted, and only
    // the last commits can be lost to a power cut (not to a process crash).
    conn.exec("PRAGMA synchronous = NORMAL");
  });
  if (temporary) {
    const close = sequelize.close.bind(sequelize);
    sequelize.close = async () => {
      await close();
      fs.rmSync(dir, { recursive: true, force: true });
    };
  }
  return sequelize;
}

interface SqliteConnection {
  configure(option: "busyTimeout", value: number): void;
  exec(sql: string): void;
}

/**
 * Sequelize opens (and afterwards closes) a new SQLite connection for every
 * transaction: a file open, WAL set-up and pragmas each time, which made a
 * short transaction cost several milliseconds. Our transactions already run
 * one at a time (SequelizeDatabase.transaction), so they all share one
 * long-lived writer connection; reads outside a transaction keep the default
 * one (WAL lets them read while the writer writes).
 */
function reuseOneWriterConnection(sequelize: Sequelize): void {
  const manager = sequelize.connectionManager as unknown as {
    getConnection(options?: { uuid?: string }): Promise<{ uuid?: string }>;
    releaseConnection(connection: { uuid?: string }, force?: boolean): unknown;
    destroyConnection(connection: { uuid?: string }): Promise<unknown>;
    connections: Record<string, { close(cb: () => void): void } | undefined>;
  };
  const getConnection = manager.getConnection.bind(manager);
  const releaseConnection = manager.releaseConnection.bind(manager);
  let writer: { uuid?: string } | undefined;
  manager.getConnection = async (options = {}) => {
    const isTransaction = options.uuid !== undefined && options.uuid !== "default";
    if (!isTransaction) return getConnection(options);
    writer ??= await getConnection({ ...options, uuid: WRITER_CONNECTION });
    return writer;
  };
  manager.releaseConnection = (connection, force) => {
    // The transaction is over; the writer stays open for the next one (closed with the rest).
    if (connection === writer) {
      connection.uuid = undefined;
      return undefined;
    }
    return releaseConnection(connection, force);
  };
  const destroyConnection = manager.destroyConnection.bind(manager);
  manager.destroyConnection = async (connection) => {
    if (connection !== writer) return destroyConnection(connection);
    // A commit or rollback failed: the writer's state is unknown, the next transaction opens a new one.
    const broken = manager.connections[WRITER_CONNECTION];
    delete manager.connections[WRITER_CONNECTION];
    writer = undefined;
    await new Promise<void>((resolve) => (broken ? broken.close(() => resolve()) : resolve()));
  };
}

const WRITER_CONNECTION = "writer";

/** Sequelize's SQLite connection manager has no connect hook; wrap the call that opens connections. */
function configureEachConnection(
  sequelize: Sequelize,
  configure: (conn: SqliteConnection) => void,
): void {
  const manager = sequelize.connectionManager as unknown as {
    getConnection(options?: unknown): Promise<SqliteConnection>;
  };
  const seen = new WeakSet<SqliteConnection>();
  const getConnection = manager.getConnection.bind(manager);
  manager.getConnection = async (options?: unknown) => {
    const conn = await getConnection(options);
    if (!seen.has(conn)) {
      configure(conn);
      seen.add(conn);
    }
    return conn;
  };
}

class SequelizeDatabase implements RelationalDatabase {
  private sqliteWriters: Promise<void> = Promise.resolve();

  constructor(
    readonly service: string,
    readonly adapter: "mysql" | "sqlite",
    readonly sequelize: Sequelize,
  ) {}

  async migrate(migrations: Migration[]): Promise<string[]> {
    if (this.adapter === "sqlite") {
      // WAL lets readers proceed while a writer commits.
      await this.sequelize.query("PRAGMA journal_mode = WAL").catch(() => undefined);
      await this.sequelize.query("PRAGMA foreign_keys = ON");
    }
    const umzug = new Umzug({
      migrations: migrations.map((m) => ({
        name: m.name,
        up: () => m.up(this.sequelize.getQueryInterface(), this.sequelize),
        down: m.down
          ? () => m.down!(this.sequelize.getQueryInterface(), this.sequelize)
          : undefined,
      })),
      storage: new SequelizeStorage({ sequelize: this.sequelize, tableName: "schema_migrations" }),
      logger: undefined,
    });
    return this.withMigrationLock(async () => (await umzug.up()).map((m) => m.name));
  }

  /** Two nodes (or `npm run migrate` and a node) starting at once must not both run a migration. */
  private async withMigrationLock<T>(fn: () => Promise<T>): Promise<T> {
    if (this.adapter === "sqlite") {
      const file = (this.sequelize as unknown as { options: { storage: string } }).options.storage;
      return withExclusiveSqliteLock(`${file}.migrate-lock`, fn);
    }
    // GET_LOCK names are server-wide: include the database so deployments sharing a server don't wait on each other.
    const lockName = `migrate:${this.sequelize.config.database}`;
    const conn = await this.sequelize.connectionManager.getConnection({ type: "write" });
    try {
      const [rows] = (await (conn as unknown as MysqlConnection)
        .promise()
        .query("SELECT GET_LOCK(?, 60) AS got", [lockName])) as [{ got: number }[]];
      if (rows[0]?.got !== 1)
        throw new Error(`Could not take the migration lock for ${this.service}`);
      try {
        return await fn();
      } finally {
        await (conn as unknown as MysqlConnection)
          .promise()
          .query("SELECT RELEASE_LOCK(?)", [lockName]);
      }
    } finally {
      this.sequelize.connectionManager.releaseConnection(conn);
    }
  }

  /**
   * Use this, not sequelize.transaction. On SQLite one transaction runs at a
   * time (the file has one writer anyway). On MySQL a transaction InnoDB picks
   * as a deadlock victim was rolled back whole, so it is run again from the
   * start (fn must keep its effects inside tx).
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    if (this.adapter !== "sqlite")
      return this.withDeadlockRetry(() => this.sequelize.transaction(fn));
    const run = () => this.sequelize.transaction((tx) => fn(tx));
    const result = this.sqliteWriters.then(run, run);
    this.sqliteWriters = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  singleStatement<T>(fn: (tx: Transaction | undefined) => Promise<T>): Promise<T> {
    if (this.adapter === "sqlite") return this.transaction(fn);
    return this.withDeadlockRetry(() => fn(undefined));
  }

  private async withDeadlockRetry<T>(run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (err) {
        if (attempt >= DEADLOCK_ATTEMPTS || !isDeadlock(err)) throw err;
      }
    }
  }

  async ping(): Promise<boolean> {
    try {
      await this.sequelize.query("SELECT 1");
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.sequelize.close();
  }
}

/**
 * A lock across processes for SQLite: an EXCLUSIVE transaction on a lock file
 * beside the database. The operating system drops it if the process dies.
 */
async function withExclusiveSqliteLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = await new Promise<sqlite3.Database>((resolve, reject) => {
    const db: sqlite3.Database = new sqlite3.Database(file, (err) =>
      err ? reject(err) : resolve(db),
    );
  });
  const exec = (sql: string) =>
    new Promise<void>((resolve, reject) =>
      lock.exec(sql, (err) => (err ? reject(err) : resolve())),
    );
  try {
    lock.configure("busyTimeout", 60_000);
    await exec("BEGIN EXCLUSIVE");
    try {
      return await fn();
    } finally {
      await exec("COMMIT").catch(() => undefined);
    }
  } finally {
    await new Promise<void>((resolve) => lock.close(() => resolve()));
  }
}

const DEADLOCK_ATTEMPTS = 3;

function isDeadlock(err: unknown): boolean {
  const cause = (err as { parent?: { code?: unknown; errno?: unknown } }).parent;
  return cause?.code === "ER_LOCK_DEADLOCK" || cause?.errno === 1213;
}

interface MysqlConnection {
  promise(): { query(sql: string, values?: unknown[]): Promise<unknown> };
}
