import { QueryTypes, Sequelize, Transaction } from "sequelize";
import {
  BoundStatement,
  bindPositional,
  PreparingConnection,
  runPrepared,
} from "./sqlite-prepared";

type Replacements = unknown[] | Record<string, unknown>;

// Sequelize's own escaping of `?` and `:name` replacements (its lib/* is exported;
// the declaration there needs a newer moduleResolution).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { injectReplacements } = require("sequelize/lib/utils/sql") as {
  injectReplacements(sql: string, dialect: unknown, replacements: Replacements): string;
};

/**
 * Raw statements straight to the driver (mysql2 or sqlite3), on the connection
 * Sequelize would have used, with the answer Sequelize would have given.
 *
 * Every repository writes its SQL by hand and runs it with
 * `sequelize.query(sql, { replacements, type, transaction })`. For such a
 * statement Sequelize's own work is bookkeeping: option merging, a retry
 * wrapper, query hooks, a Query object, a stack trace captured in advance in
 * case the statement fails, a copy of every row (and on SQLite a `PRAGMA
 * table_info` before a SELECT that names a table in backticks). On MariaDB
 * that was about a fifth of the node's CPU during checkout (decision 18). This
 * keeps what matters — Sequelize's replacement escaping, its connections and
 * transactions, its error classes (built only when a statement fails), the
 * roll-back of a deadlock victim's transaction, the retry of SQLite's
 * SQLITE_BUSY — and answers the plain cases itself, the statements that begin
 * and end every transaction included (and logs them as Sequelize would when a
 * logger is set). Anything else (models, bind parameters, benchmark timing,
 * hooks, CLS, other query types) still goes through `sequelize.query`
 * unchanged. On SQLite a statement whose replacements are plain values runs
 * prepared, with them bound (sqlite-prepared.ts, decision 26).
 */
export function runRawStatementsDirectly(sequelize: Sequelize): void {
  const driver = sequelize.getDialect() === "sqlite" ? sqlite : mysql;
  const viaSequelize = sequelize.query.bind(sequelize) as (
    sql: unknown,
    options?: QueryOptions,
  ) => Promise<unknown>;
  const direct = (sql: unknown, options?: QueryOptions): Promise<unknown> => {
    if (typeof sql !== "string" || !options || !plainSetting(sequelize))
      return viaSequelize(sql, options);
    const text = sql.trim(); // as Sequelize sends it
    if (isTransactionControl(driver, text, options) || isPlainStatement(driver, text, options))
      return runDirectly(sequelize, driver, text, options).catch((err: unknown) =>
        // SQLite's busy answer: Sequelize's own retry takes it from here.
        driver.retriedBySequelize(err) ? viaSequelize(sql, options) : Promise.reject(err),
      );
    return viaSequelize(sql, options);
  };
  (sequelize as unknown as { query: typeof direct }).query = direct;
}

interface QueryOptions {
  replacements?: Replacements;
  type?: string;
  transaction?: Transaction;
  [option: string]: unknown;
}

interface Settings {
  logging?: false | ((message: string) => void);
  benchmark?: boolean;
}

const settingsOf = (sequelize: Sequelize) =>
  (sequelize as unknown as { options: Settings }).options;

/** No timing, hooks or CLS: nothing that needs Sequelize's Query object (a logger is called here). */
function plainSetting(sequelize: Sequelize): boolean {
  const { logging, benchmark } = settingsOf(sequelize);
  if (benchmark || (logging && typeof logging !== "function")) return false;
  if (sequelize.hasHook("beforeQuery") || sequelize.hasHook("afterQuery")) return false;
  return !(Sequelize as unknown as { _cls?: unknown })._cls;
}

/** The option keys of a plain raw statement; anything else needs Sequelize. */
const STATEMENT_OPTIONS = new Set(["replacements", "type", "transaction"]);

function isPlainStatement(driver: Driver, sql: string, options: QueryOptions): boolean {
  for (const key in options) if (!STATEMENT_OPTIONS.has(key)) return false;
  const type = options.type ?? QueryTypes.RAW;
  if (!driver.directTypes.has(type)) return false;
  // Statements whose answer Sequelize shapes by their text (CALL, SHOW, an INSERT typed otherwise).
  const head = sql.slice(0, 12).toLowerCase();
  if (/^(call|show|describe|pragma|-- )/.test(head)) return false;
  if (type !== QueryTypes.INSERT && head.startsWith("insert into")) return false;
  // A finished transaction: Sequelize's own error says so.
  return !(options.transaction as { finished?: string } | undefined)?.finished;
}

/** The options Sequelize's Transaction passes with the statements that begin and end it. */
const TRANSACTION_OPTIONS = new Set([
  "type",
  "isolationLevel",
  "readOnly",
  "transaction",
  "supportsSearchPath",
  "completesTransaction",
]);

/** A default transaction's begin, commit or rollback (an isolation level or READ ONLY needs Sequelize). */
function isTransactionControl(driver: Driver, sql: string, options: QueryOptions): boolean {
  if (!driver.transactionControl.has(sql) || !options.transaction) return false;
  for (const key in options) if (!TRANSACTION_OPTIONS.has(key)) return false;
  return !options.isolationLevel && !options.readOnly;
}

/** What differs between the dialects: which statements go direct, and how the driver runs one. */
interface Driver {
  /** Statement types answered here. */
  directTypes: Set<string>;
  /** What Sequelize's Transaction sends to begin and end a default transaction. */
  transactionControl: Set<string>;
  /** Runs `sql` on `connection`; the answer has the shape Sequelize's Query gives for `type`. */
  run(connection: unknown, sql: string, type: string): Promise<unknown>;
  /** The statement with its replacements bound rather than written out, where the driver can. */
  bind?(template: string, replacements: Replacements | undefined): BoundStatement | undefined;
  /** Runs a bound statement; the same answers as `run`. */
  runBound?(connection: unknown, statement: BoundStatement, type: string): Promise<unknown>;
  /** Sequelize's query would retry this error (only its path knows how). */
  retriedBySequelize(err: unknown): boolean;
}

interface MysqlConnection {
  query(sql: string, callback: (err: Error | null, result: unknown) => void): unknown;
}

interface ResultHeader {
  insertId?: number;
  affectedRows?: number;
}

/**
 * mysql2. The answers are the shapes of Sequelize's MySQL Query#formatResults
 * for these types; a transaction's own statements carry its type and are
 * answered with nothing.
 */
const mysql: Driver = {
  directTypes: new Set([QueryTypes.SELECT, QueryTypes.INSERT, QueryTypes.UPDATE, QueryTypes.RAW]),
  transactionControl: new Set(["START TRANSACTION;", "COMMIT;", "ROLLBACK;"]),
  async run(connection, sql, type) {
    const data = await new Promise((resolve, reject) =>
      (connection as MysqlConnection).query(sql, (err, result) =>
        err ? reject(err) : resolve(result),
      ),
    );
    if (type === QueryTypes.SELECT) return data;
    const header = data as ResultHeader;
    if (type === QueryTypes.INSERT) return [header.insertId, header.affectedRows];
    if (type === QueryTypes.UPDATE) return [undefined, header.affectedRows];
    if (type === QueryTypes.RAW) return [data, data];
    return undefined;
  },
  retriedBySequelize: () => false,
};

/** The statement sqlite3 hands its callback as `this`. */
interface SqliteStatement {
  lastID: number;
  changes: number;
}

type SqliteCallback = (this: SqliteStatement, err: Error | null, rows?: unknown[]) => void;

interface SqliteConnection {
  serialize(callback: () => void): void;
  all(sql: string, params: unknown[], callback: SqliteCallback): unknown;
  run(sql: string, params: unknown[], callback: SqliteCallback): unknown;
}

/**
 * sqlite3, as Sequelize's SQLite Query#run drives it: `run` for an INSERT or
 * UPDATE (its statement says the row id and the changes), `all` for the
 * rest, inside `serialize`. An untyped statement is not answered here: that
 * Query picks its method and shape by the statement's text. The rows are
 * plain objects already (Sequelize copies them once more); see ownRealm.
 */
const sqlite: Driver = {
  directTypes: new Set([QueryTypes.SELECT, QueryTypes.INSERT, QueryTypes.UPDATE]),
  transactionControl: new Set([
    "BEGIN DEFERRED TRANSACTION;",
    "BEGIN IMMEDIATE TRANSACTION;",
    "BEGIN EXCLUSIVE TRANSACTION;",
    "COMMIT;",
    "ROLLBACK;",
  ]),
  run(connection, sql, type) {
    const db = connection as SqliteConnection;
    const writes = type === QueryTypes.INSERT || type === QueryTypes.UPDATE;
    return new Promise((resolve, reject) =>
      db.serialize(() => {
        const done: SqliteCallback = function (err, rows) {
          if (err) reject(err);
          else resolve(sqliteAnswer(type, rows, this));
        };
        if (writes) db.run(sql, [], done);
        else db.all(sql, [], done);
      }),
    );
  },
  // Prepared once per connection and run with the values bound (decision 26).
  bind: bindPositional,
  async runBound(connection, statement, type) {
    const writes = type === QueryTypes.INSERT || type === QueryTypes.UPDATE;
    const { rows, result } = await runPrepared(
      connection as PreparingConnection,
      statement,
      writes,
    );
    return sqliteAnswer(type, rows, result);
  },
  // What runDirectly throws is Sequelize's error (a TimeoutError), the driver's as its parent.
  retriedBySequelize: (err) =>
    (err as { parent?: { code?: string } }).parent?.code === "SQLITE_BUSY",
};

/** The answer Sequelize's SQLite Query gives for `type`. */
function sqliteAnswer(type: string, rows: unknown[] | undefined, result: SqliteStatement): unknown {
  if (type === QueryTypes.SELECT) return ownRealm(rows!);
  if (type === QueryTypes.INSERT) return [result.lastID, result.changes];
  if (type === QueryTypes.UPDATE) return [undefined, result.changes];
  return undefined;
}

/**
 * The rows as objects of this code's realm. sqlite3 builds them in the
 * process's main realm, which in a node is this code's too. A test runner
 * that loads modules in a realm of their own (Jest) would otherwise get rows
 * that fail the plain-data checks of lib/immutable.ts, which the node's rows
 * pass; there they are copied.
 */
function ownRealm(rows: unknown[]): unknown[] {
  if (!rows.length || Object.getPrototypeOf(rows[0]) === Object.prototype) return rows;
  return rows.map((row) => ({ ...(row as object) }));
}

async function runDirectly(
  sequelize: Sequelize,
  driver: Driver,
  template: string,
  options: QueryOptions,
): Promise<unknown> {
  const { replacements, type = QueryTypes.RAW, transaction } = options;
  const { dialect } = sequelize as unknown as { dialect: unknown };
  const bound = driver.bind?.(template, replacements);
  // The statement as Sequelize would send it: for the log line and an error's message.
  const written = () =>
    replacements ? injectReplacements(template, dialect, replacements) : template;
  const sql = bound ? undefined : written();
  const manager = sequelize.connectionManager as unknown as {
    getConnection(options: QueryOptions): Promise<{ uuid?: string }>;
    releaseConnection(connection: { uuid?: string }): void;
  };
  const connection = transaction
    ? (transaction as unknown as { connection: { uuid?: string } }).connection
    : // A copy: SQLite's connection manager writes its own keys into the options it is given.
      await manager.getConnection({ ...options });
  // The line Sequelize logs before a statement.
  const { logging } = settingsOf(sequelize);
  if (logging) logging(`Executing (${connection.uuid || "default"}): ${sql ?? written()}`);
  try {
    return bound
      ? await driver.runBound!(connection, bound, type)
      : await driver.run(connection, sql!, type);
  } catch (err) {
    const statement = sql ?? written();
    throw await asSequelizeError(sequelize, connection, options, statement, err as DriverError);
  } finally {
    if (!transaction) manager.releaseConnection(connection);
  }
}

interface DriverError extends Error {
  errno?: number;
  sql?: string;
}

const ER_LOCK_DEADLOCK = 1213;

/** The dialect's Query class, used here only to turn a driver error into Sequelize's. */
type SequelizeQuery = new (
  connection: unknown,
  sequelize: Sequelize,
  options: unknown,
) => { sql: string; formatError(err: Error, stack: string | undefined): Error };

/** The error Sequelize would have thrown, built only now that a statement failed. */
async function asSequelizeError(
  sequelize: Sequelize,
  connection: unknown,
  options: QueryOptions,
  sql: string,
  err: DriverError,
): Promise<Error> {
  const { transaction } = options;
  // InnoDB rolled the victim's transaction back; Sequelize marks it so (and
  // the port's transaction() runs it again from the start).
  if (transaction && sequelize.getDialect() === "mysql" && err.errno === ER_LOCK_DEADLOCK) {
    await transaction.rollback().catch(() => undefined);
    (transaction as unknown as { finished: string }).finished = "rollback";
  }
  err.sql = sql;
  const { Query } = (sequelize as unknown as { dialect: { Query: SequelizeQuery } }).dialect;
  const query = new Query(connection, sequelize, { ...options, raw: true });
  query.sql = sql;
  return query.formatError(err, new Error().stack);
}
