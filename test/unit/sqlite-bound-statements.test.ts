import { bindPositional } from "../../lib/infra/relational/sqlite-prepared";

/**
 * Which SQLite statements run prepared with their values bound, and the text
 * they are prepared from. What SQLite makes of it, compared value for value
 * with the text Sequelize writes, is in the relational contract.
 */
describe("bindPositional", () => {
  it("keeps each `?` Sequelize replaces and binds its value", () => {
    expect(
      bindPositional("UPDATE t SET a = ?, b = ?, c = ? WHERE id = ?", ["x", 7, null, "id"]),
    ).toEqual({
      sql: "UPDATE t SET a = ?, b = ?, c = ? WHERE id = ?",
      params: ["x", 7, null, "id"],
    });
  });

  it("binds a boolean as the 1 or 0 Sequelize writes for SQLite", () => {
    expect(bindPositional("SELECT ?, ?", [true, false])?.params).toEqual([1, 0]);
  });

  it("casts an integer beyond 32 bits, which sqlite3 would bind as floating point", () => {
    const now = 1_764_196_000_000;
    expect(bindPositional("INSERT INTO t VALUES (?, ?, ?)", [2 ** 31 - 1, now, -now])).toEqual({
      sql: "INSERT INTO t VALUES (?, (CAST(? AS INTEGER) + 0), (CAST(? AS INTEGER) + 0))",
      params: [2 ** 31 - 1, now, -now],
    });
  });

  it("expands a list to one `?` per value, and a list of lists to bracketed groups", () => {
    expect(bindPositional("SELECT * FROM t WHERE id IN (?)", [["a", "b", "c"]])).toEqual({
      sql: "SELECT * FROM t WHERE id IN (?, ?, ?)",
      params: ["a", "b", "c"],
    });
    expect(
      bindPositional("INSERT INTO t (a, b) VALUES ?", [
        [
          ["a", 1],
          ["b", 2],
        ],
      ]),
    ).toEqual({ sql: "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)", params: ["a", 1, "b", 2] });
  });

  it("prepares a statement without values as it is: a transaction's BEGIN and COMMIT", () => {
    for (const sql of [
      "BEGIN IMMEDIATE TRANSACTION;",
      "COMMIT;",
      "SELECT 1 FROM t WHERE a = 'x'",
    ]) {
      expect(bindPositional(sql, undefined)).toEqual({ sql, params: [] });
      expect(bindPositional(sql, [])).toEqual({ sql, params: [] });
    }
  });

  it("leaves a `?` inside a string or a quoted name alone", () => {
    expect(bindPositional("SELECT '?', `a?` FROM t WHERE s = 'it''s?' AND x = ?", [1])).toEqual({
      sql: "SELECT '?', `a?` FROM t WHERE s = 'it''s?' AND x = ?",
      params: [1],
    });
  });

  it.each([
    ["a date", [new Date()]],
    ["a buffer", [Buffer.from("x")]],
    ["an object", [{ a: 1 }]],
    ["a fraction", [1.5]],
    ["an unsafe integer", [2 ** 53]],
    ["NaN", [NaN]],
    ["a bigint", [BigInt(1)]],
    ["an empty list", [[]]],
    ["a list in a list in a list", [[[["a"]]]]],
    ["a missing value", [undefined]],
  ])("writes the values out when one is %s", (_what, values) => {
    expect(bindPositional("SELECT * FROM t WHERE a = ?", values as unknown[])).toBeUndefined();
  });

  it.each([
    ["named replacements", "SELECT * FROM t WHERE a = :a", { a: 1 }],
    ["a `?` and no values", "SELECT * FROM t WHERE a = ?", undefined],
    ["fewer values than `?`s", "SELECT * FROM t WHERE a = ? AND b = ?", [1]],
    ["more values than `?`s", "SELECT * FROM t WHERE a = ?", [1, 2]],
    ["a `?` after a character Sequelize does not accept before one", "SELECT a<? FROM t", [1]],
    ["a `?|` operator", "SELECT * FROM t WHERE a ?| b AND c = ?", [1]],
    ["a double-quoted name", 'SELECT "a?" FROM t WHERE a = ?', [1]],
    ["a comment", "SELECT a FROM t -- why?\nWHERE a = ?", [1]],
    ["a block comment", "SELECT a /* ? */ FROM t WHERE a = ?", [1]],
    ["a dollar-quoted string", "SELECT $$?$$ FROM t WHERE a = ?", [1]],
    ["an unterminated string", "SELECT 'a FROM t WHERE a = ?", [1]],
  ])("writes the values out for %s", (_what, sql, replacements) => {
    expect(bindPositional(sql, replacements as unknown[] | undefined)).toBeUndefined();
  });
});
