/**
 * Prepared statements for SQLite's raw statements (decision 26).
 *
 * With its replacements written into the text, every statement is new to
 * SQLite: it is parsed and planned again each time, about half of what a
 * point read or write costs. Here a statement whose replacements are plain
 * values keeps its `?`s, is prepared once per connection, and runs with its
 * values bound. What SQLite stores and answers is what the text with the
 * values written in gives (Sequelize's escaping, lib/utils/sql), value for
 * value:
 *  - a string, null, and a boolean (1 or 0, as Sequelize writes it) are bound as they are;
 *  - an integer is bound as it is, except one outside 32 bits: sqlite3
 *    binds those as floating point, so it goes in as
 *    `(CAST(? AS INTEGER) + 0)`, the integer the text would have written;
 *  - a list becomes one `?` per value (`IN (?)`), a list of lists one
 *    bracketed group per inner list (`VALUES ?`), as Sequelize expands them.
 * A statement without values (a transaction's BEGIN and COMMIT) is prepared
 * as it is. Anything else (a fraction, a date, a buffer, an object, an unsafe integer,
 * an empty list, a missing value) and any text with a `?` Sequelize would
 * read differently (after a character it does not accept before one, or in a
 * comment, a double-quoted name or a dollar-quoted string) is written into
 * the text as before: `bindPositional` answers undefined.
 */

type Replacements = unknown[] | Record<string, unknown>;

export interface BoundStatement {
  /** The text SQLite prepares: one `?` per value in `params`. */
  sql: string;
  params: Array<string | number | null>;
}

/**
 * An integer sqlite3 would bind as floating point, made the integer again.
 * The `+ 0` drops the INTEGER affinity CAST gives, which a written number
 * does not have: compared with a TEXT column, a number with an affinity
 * turns the column's text into numbers, one without turns itself into text.
 */
const BIG_INTEGER = "(CAST(? AS INTEGER) + 0)";
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** The statement with its values bound, or undefined where it must be written out. */
export function bindPositional(
  template: string,
  replacements: Replacements | undefined,
): BoundStatement | undefined {
  if (replacements === undefined || (Array.isArray(replacements) && !replacements.length))
    // Without values the text is sent as it is, so it is prepared as it is
    // (a transaction's BEGIN and COMMIT among them); one with a `?` is left alone.
    return template.includes("?") ? undefined : { sql: template, params: [] };
  if (!Array.isArray(replacements)) return undefined;
  if (/["$]|--|\/\*/.test(template)) return undefined;
  const params: BoundStatement["params"] = [];
  let sql = "";
  let sliceStart = 0;
  let used = 0;
  for (let i = 0; i < template.length; i++) {
    const char = template[i];
    if (char === "'" || char === "`") {
      // A string or a quoted name: its `?`s are text (SQLite doubles a quote inside).
      const end = template.indexOf(char, i + 1);
      if (end < 0) return undefined;
      i = end;
      continue;
    }
    if (char !== "?") continue;
    // The `?`s Sequelize replaces; any other would mean something else to each.
    if (!/^[\s(>,=[]?$/.test(template[i - 1] ?? "")) return undefined;
    if (template[i + 1] === "|" || template[i + 1] === "&") return undefined;
    if (used === replacements.length) return undefined;
    const placeholder = bindValue(replacements[used++], params, true);
    if (placeholder === undefined) return undefined;
    sql += template.slice(sliceStart, i) + placeholder;
    sliceStart = i + 1;
  }
  if (used !== replacements.length) return undefined;
  return { sql: sql + template.slice(sliceStart), params };
}

/** Adds the value's parameters and answers its placeholder text (undefined: not bindable). */
function bindValue(
  value: unknown,
  params: BoundStatement["params"],
  listAllowed: boolean,
): string | undefined {
  switch (typeof value) {
    case "string":
      params.push(value);
      return "?";
    case "boolean":
      params.push(value ? 1 : 0);
      return "?";
    case "number":
      if (!Number.isSafeInteger(value)) return undefined;
      params.push(value);
      return value >= INT32_MIN && value <= INT32_MAX ? "?" : BIG_INTEGER;
  }
  if (value === null) {
    params.push(null);
    return "?";
  }
  if (!Array.isArray(value) || !listAllowed) return undefined;
  return bindList(value, params, true);
}

/**
 * A list's values, `?, ?`; with `groups`, an inner list is one bracketed
 * group, `(?, ?), (?, ?)`, as Sequelize writes them.
 */
function bindList(
  values: unknown[],
  params: BoundStatement["params"],
  groups: boolean,
): string | undefined {
  if (!values.length) return undefined;
  const parts: string[] = [];
  for (const item of values) {
    const group = groups && Array.isArray(item);
    const part = group ? bindList(item, params, false) : bindValue(item, params, false);
    if (part === undefined) return undefined;
    parts.push(group ? `(${part})` : part);
  }
  return parts.join(", ");
}

/** What sqlite3 hands a statement's callback as `this`. */
export interface SqliteRunResult {
  lastID: number;
  changes: number;
}

type Callback = (this: SqliteRunResult, err: Error | null, rows?: unknown[]) => void;

export interface SqliteStatement {
  all(params: unknown[], callback: Callback): unknown;
  run(params: unknown[], callback: Callback): unknown;
  finalize(callback: () => void): unknown;
}

export interface PreparingConnection {
  prepare(sql: string, callback: (err: Error | null) => void): SqliteStatement;
  /**
   * Calls back once everything scheduled on the connection before is done;
   * what is scheduled after waits for what the callback starts.
   */
  wait(callback: () => void): unknown;
  close(callback?: (err: Error | null) => void): unknown;
}

/** Statements kept per connection; the least recently used is finalized beyond this. */
export const STATEMENTS_PER_CONNECTION = 200;

/** A prepared statement, and how many statements are running on it now. */
interface Entry {
  prepared: Promise<SqliteStatement>;
  users: number;
  /** Out of the cache: finalized once its last user is done. */
  retired: boolean;
  finalized: boolean;
}

/**
 * A connection's prepared statements, by text, least recently used first.
 * A statement leaves the cache when it fails or is the least recently used
 * beyond the limit, and is finalized once nobody is running it. Closing the
 * connection finalizes them all first (SQLite does not close a connection
 * with statements still prepared).
 */
class StatementCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly connection: PreparingConnection) {
    const close = connection.close.bind(connection);
    connection.close = (callback?: (err: Error | null) => void) =>
      void this.finalizeAll().then(() => close(callback));
  }

  /** The statement for `sql`, in use until `release` (prepared now if it is not kept). */
  acquire(sql: string): Entry {
    let entry = this.entries.get(sql);
    if (entry) {
      this.entries.delete(sql); // to the most recently used end
    } else {
      const prepared = new Promise<SqliteStatement>((resolve, reject) => {
        const statement: SqliteStatement = this.connection.prepare(sql, (err) =>
          err ? reject(err) : resolve(statement),
        );
      });
      entry = { prepared, users: 0, retired: false, finalized: false };
      prepared.catch(() => undefined); // the caller awaits it
      this.evictBeyond(STATEMENTS_PER_CONNECTION - 1);
    }
    this.entries.set(sql, entry);
    entry.users++;
    return entry;
  }

  /** Done with it; `failed` retires it, so a statement that failed is prepared afresh. */
  release(sql: string, entry: Entry, failed: boolean): void {
    entry.users--;
    if (failed) this.retire(sql, entry);
    finalizeIfUnused(entry);
  }

  private retire(sql: string, entry: Entry): void {
    if (this.entries.get(sql) === entry) this.entries.delete(sql);
    entry.retired = true;
  }

  private evictBeyond(size: number): void {
    for (const [sql, entry] of this.entries) {
      if (this.entries.size <= size) return;
      this.retire(sql, entry);
      finalizeIfUnused(entry);
    }
  }

  private async finalizeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((entry) => finalize(entry)));
  }
}

function finalizeIfUnused(entry: Entry): void {
  if (entry.retired && entry.users === 0) void finalize(entry);
}

/** Finalizes a statement once (one that did not prepare has nothing to finalize). */
function finalize(entry: Entry): Promise<void> {
  if (entry.finalized) return Promise.resolve();
  entry.finalized = true;
  return entry.prepared.then(
    (statement) => new Promise<void>((resolve) => statement.finalize(() => resolve())),
    () => undefined,
  );
}

const caches = new WeakMap<PreparingConnection, StatementCache>();

/**
 * Runs a bound statement on `connection` with its prepared statement:
 * `run` for a write (its result says the row id and the changes), `all` for
 * a read. A statement that fails is finalized and prepared afresh next time.
 */
export async function runPrepared(
  connection: PreparingConnection,
  { sql, params }: BoundStatement,
  writes: boolean,
): Promise<{ rows?: unknown[]; result: SqliteRunResult }> {
  let cache = caches.get(connection);
  if (!cache) caches.set(connection, (cache = new StatementCache(connection)));
  const entry = cache.acquire(sql);
  let failed = true;
  try {
    const statement = await entry.prepared;
    const answer = await new Promise<{ rows?: unknown[]; result: SqliteRunResult }>(
      (resolve, reject) => {
        const done: Callback = function (err, rows) {
          if (err) reject(err);
          else resolve({ rows, result: { lastID: this.lastID, changes: this.changes } });
        };
        // One statement at a time on a connection, after what was scheduled on
        // it before, as the written-out statements run (inside `serialize`):
        // several waiting for the write lock at once would hold all of
        // libuv's threads.
        connection.wait(() => {
          if (writes) statement.run(params, done);
          else statement.all(params, done);
        });
      },
    );
    failed = false;
    return answer;
  } finally {
    cache.release(sql, entry, failed);
  }
}
