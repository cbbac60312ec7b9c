import { QueryTypes, Sequelize, Transaction } from "sequelize";

type Replacements = unknown[] | Record<string, unknown>;

// Sequelize's own escaping of `?` and `:name` replacements (its lib/* is exported;
// the declaration there needs a newer moduleResolution).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { injectReplacements } = require("sequelize/lib/utils/sql") as {
  injectReplacements(sql: string, dialect: unknown, replacements: Replacements): string;
};

/**
 * Raw statements on MySQL straight to mysql2, on the connection Sequelize would
 * have used, with the answer Sequelize would have given.
 *
 * Every repository writes its SQL by hand and runs it with
 * `sequelize.query(sql, { replacements, type, transaction })`. For such a
 * statement Sequelize's own work is bookkeeping: option merging, a retry
 * wrapper, query hooks, a Query object, a stack trace captured in advance in
 * case the statement fails, a copy of every row. On MariaDB that was about a
 * fifth of the node's CPU during checkout (decision 18). This keeps what
 * matters — Sequelize's replacement escaping, its connection pool and
 * transactions, its error classes (built only when a statement fails), the
 * roll-back of a deadlock victim's transaction — and answers the plain cases
 * itself, the START TRANSACTION and COMMIT of every transaction included
 * (and logs them as Sequelize would when a logger is set). Anything else
 * (models, bind parameters, benchmark timing, hooks, CLS, other query types)
 * still goes through `sequelize.query` unchanged.
 */
export function runRawStatementsDirectly(sequelize: Sequelize): void {
  const viaSequelize = sequelize.query.bind(sequelize) as (
    sql: unknown,
    options?: QueryOptions,
  ) => Promise<unknown>;
  const direct = (sql: unknown, options?: QueryOptions): Promise<unknown> => {
    if (typeof sql !== "string" || !options || !plainSetting(sequelize))
      return viaSequelize(sql, options);
    const text = sql.trim(); // as Sequelize sends it
    if (isTransactionControl(text, options) || isPlainStatement(text, options))
      return runDirectly(sequelize, text, options);
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
const DIRECT_TYPES = new Set<string>([
  QueryTypes.SELECT,
  QueryTypes.INSERT,
  QueryTypes.UPDATE,
  QueryTypes.RAW,
]);

function isPlainStatement(sql: string, options: QueryOptions): boolean {
  for (const key in options) if (!STATEMENT_OPTIONS.has(key)) return false;
  const type = options.type ?? QueryTypes.RAW;
  if (!DIRECT_TYPES.has(type)) return false;
  // Statements whose answer Sequelize shapes by their text (CALL, SHOW, an INSERT typed otherwise).
  const head = sql.slice(0, 12).toLowerCase();
  if (/^(call|show|describe)/.test(head)) return false;
  if (type !== QueryTypes.INSERT && head.startsWith("insert into")) return false;
  // A finished transaction: Sequelize's own error says so.
  return !(options.transaction as { finished?: string } | undefined)?.finished;
}

/**
 * What Sequelize's Transaction sends to begin and end a default transaction
 * (MySQL's query generator; an isolation level or READ ONLY reads otherwise and
 * goes through Sequelize), with the transaction's options spread in.
 */
const TRANSACTION_CONTROL = new Set(["START TRANSACTION;", "COMMIT;", "ROLLBACK;"]);
const TRANSACTION_OPTIONS = new Set([
  "type",
  "isolationLevel",
  "readOnly",
  "transaction",
  "supportsSearchPath",
  "completesTransaction",
]);

function isTransactionControl(sql: string, options: QueryOptions): boolean {
  if (!TRANSACTION_CONTROL.has(sql) || !options.transaction) return false;
  for (const key in options) if (!TRANSACTION_OPTIONS.has(key)) return false;
  return !options.isolationLevel && !options.readOnly;
}

interface MysqlConnection {
  uuid?: string;
  query(sql: string, callback: (err: MysqlError | null, result: unknown) => void): unknown;
}

interface MysqlError extends Error {
  errno?: number;
  sql?: string;
}

interface ResultHeader {
  insertId?: number;
  affectedRows?: number;
}

async function runDirectly(
  sequelize: Sequelize,
  template: string,
  options: QueryOptions,
): Promise<unknown> {
  const { replacements, type = QueryTypes.RAW, transaction } = options;
  const { dialect } = sequelize as unknown as { dialect: unknown };
  const sql = replacements ? injectReplacements(template, dialect, replacements) : template;
  const manager = sequelize.connectionManager as unknown as {
    getConnection(options: QueryOptions): Promise<MysqlConnection>;
    releaseConnection(connection: MysqlConnection): void;
  };
  const connection = transaction
    ? (transaction as unknown as { connection: MysqlConnection }).connection
    : await manager.getConnection(options);
  // The line Sequelize logs before a statement.
  const { logging } = settingsOf(sequelize);
  if (logging) logging(`Executing (${connection.uuid || "default"}): ${sql}`);
  let data: unknown;
  try {
    data = await new Promise((resolve, reject) =>
      connection.query(sql, (err, result) => (err ? reject(err) : resolve(result))),
    );
  } catch (err) {
    throw await asSequelizeError(sequelize, connection, options, sql, err as MysqlError);
  } finally {
    if (!transaction) manager.releaseConnection(connection);
  }
  // The shapes of Sequelize's MySQL Query#formatResults for these types; a
  // transaction's own statements carry its type (DEFERRED…), answered with nothing.
  if (type === QueryTypes.SELECT) return data;
  const header = data as ResultHeader;
  if (type === QueryTypes.INSERT) return [header.insertId, header.affectedRows];
  if (type === QueryTypes.UPDATE) return [undefined, header.affectedRows];
  if (type === QueryTypes.RAW) return [data, data];
  return undefined;
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
  connection: MysqlConnection,
  options: QueryOptions,
  sql: string,
  err: MysqlError,
): Promise<Error> {
  const { transaction } = options;
  // InnoDB rolled the victim's transaction back; Sequelize marks it so (and
  // the port's transaction() runs it again from the start).
  if (transaction && err.errno === ER_LOCK_DEADLOCK) {
    await transaction.rollback().catch(() => undefined);
    (transaction as unknown as { finished: string }).finished = "rollback";
  }
  err.sql = sql;
  const { Query } = (sequelize as unknown as { dialect: { Query: SequelizeQuery } }).dialect;
  const query = new Query(connection, sequelize, { ...options, raw: true });
  query.sql = sql;
  return query.formatError(err, new Error().stack);
}
