import fs from "node:fs";
import path from "node:path";
import Redis from "ioredis";
import { QueryTypes, Sequelize } from "sequelize";
import { passesLuhn } from "../../lib/security/card-data";
import type { LogCapture } from "./log-capture";
import type { StorageLocations } from "./platform";

/**
 * Looks for card data at rest (ARCHITECTURE §8: no PAN or CVV anywhere):
 * every table of every database of the node (SQLite files, or the MariaDB
 * databases `<db>_<service>` — outbox tables included), every Redis key of
 * the node with its value, every file under DATA_DIR (written emails) and
 * the raw SQLite files, and the captured log output.
 *
 * A card number is a run of 13–19 digits (single spaces or dashes allowed
 * between them) standing on its own — not glued to letters or other digits,
 * as ids and hashes are — that starts like a card of a major network (Visa,
 * Mastercard, Amex, Discover, Diners, JCB, UnionPay) and passes the Luhn
 * check. UUIDs are set aside first: their digit groups can line up into such
 * a run (a v4 UUID's third group starts with 4, as a Visa number does), and
 * so can those of a UUID cut short with "..." to fit a column, as Moleculer's
 * console trace exporter cuts a span's name. So are SQLite date-times
 * (SQLITE_DATE_TIME). The network prefix keeps
 * millisecond timestamps (13 digits starting with 1) from counting. In the
 * raw SQLite files a run must also stand where a text or JSON value would
 * (DIGIT_RUN_IN_RAW_PAGE): the bytes around it there are other columns and
 * overwritten cells. A security code is a field named like one (cvv, cvc,
 * securityCode) holding 3 or 4 digits, in JSON or `key=value` form.
 */
export interface CardDataHit {
  /** Where: `mysql:<db>.<table>`, `sqlite:<file>.<table>`, `redis:<key>`, `file:<path>`, `logs`. */
  where: string;
  /** What was found, masked: `424242******4242` or `cvc=…`. */
  found: string;
}

const UUID =
  /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-(?:[0-9a-f]{12}|[0-9a-f]{0,11}\.{3})/gi;
/**
 * A date and time as Sequelize writes one to SQLite (`2026-11-27 00:17:00.093
 * +00:00`). In a raw page it follows the column before it with nothing
 * between, and its digits then continue that column's: a phone number
 * "+1 555 0100" and the date 2026-11-27 read "555 01002026-11-27", which
 * passes the Luhn check. It is set aside with a space on each side, so a
 * card number stored right before one still stands on its own.
 */
const SQLITE_DATE_TIME = /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,3})? [+-]\d{2}:\d{2}/g;
const DIGIT_RUN = /(?<![0-9A-Za-z])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z])/g;
/**
 * In a raw database page a value's neighbours are other columns' bytes and
 * remnants of overwritten cells (a UUID cut in half, say), so a run there
 * counts only where a value of text or JSON would stand: after a quote,
 * colon, equals sign, comma, bracket or white space, and before one of them.
 */
const DIGIT_RUN_IN_RAW_PAGE = /(?<=^|["'\s:=,[(])\d(?:[ -]?\d){12,18}(?=$|["'\s,\]})])/g;
const CARD_NETWORK_PREFIX = /^(?:4|5[1-5]|2[2-7]|3[47]|3[068]|35|6011|64[4-9]|65|62)/;
const SECURITY_CODE_FIELD =
  /["']?\b(cvv2?|cvc2?|security[_-]?code)\b["']?\s*(?::|=)\s*["']?(\d{3,4})(?!\d)/gi;

/** Card numbers and security-code fields in a piece of text (or of a raw database file), masked. */
export function findCardDataInText(text: string, rawPage = false): string[] {
  const found: string[] = [];
  const withoutIds = text.replace(UUID, "<uuid>").replace(SQLITE_DATE_TIME, " <date> ");
  for (const match of withoutIds.matchAll(rawPage ? DIGIT_RUN_IN_RAW_PAGE : DIGIT_RUN)) {
    const digits = match[0].replace(/[ -]/g, "");
    if (CARD_NETWORK_PREFIX.test(digits) && passesLuhn(digits)) found.push(mask(digits));
  }
  for (const match of withoutIds.matchAll(SECURITY_CODE_FIELD))
    found.push(`${match[1].toLowerCase()}=…`);
  return found;
}

function mask(digits: string): string {
  return `${digits.slice(0, 6)}${"*".repeat(digits.length - 10)}${digits.slice(-4)}`;
}

/** Every card number or security code the node keeps anywhere, or [] when it keeps none. */
export async function scanAtRest(
  storage: StorageLocations,
  logs: LogCapture,
): Promise<{ hits: CardDataHit[]; looked: Record<string, number> }> {
  const hits: CardDataHit[] = [];
  const looked: Record<string, number> = {};
  const count = (source: string, n = 1) => (looked[source] = (looked[source] ?? 0) + n);
  for (const kept of await keptAtRest(storage)) {
    count(kept.kind);
    if (kept.rows !== undefined) count("rows", kept.rows);
    for (const found of findCardDataInText(kept.text, kept.rawPage))
      hits.push({ where: kept.where, found });
  }
  count("log lines", logs.lineCount);
  for (const found of logs.cardData) hits.push({ where: "logs", found });
  return { hits, looked };
}

/**
 * Where the node keeps a given secret (a reset token, say): the same
 * places as scanAtRest, and "logs" if any log line held it.
 */
export async function whereKeptAtRest(
  storage: StorageLocations,
  logs: LogCapture,
  secret: string,
): Promise<string[]> {
  const where = (await keptAtRest(storage)).filter((kept) => kept.text.includes(secret));
  return [...where.map((kept) => kept.where), ...(logs.tokenLike.has(secret) ? ["logs"] : [])];
}

interface Kept {
  kind: "tables" | "redis keys" | "files";
  where: string;
  text: string;
  /** A raw SQLite file's bytes (see DIGIT_RUN_IN_RAW_PAGE). */
  rawPage: boolean;
  rows?: number;
}

/** Everything the node keeps: each table's rows, each Redis key with its value, each file. */
async function keptAtRest(storage: StorageLocations): Promise<Kept[]> {
  const kept: Kept[] = [];
  for (const table of await relationalTables(storage)) {
    const text = table.rows.map((row) => JSON.stringify(row)).join("\n");
    kept.push({
      kind: "tables",
      where: table.where,
      text,
      rawPage: false,
      rows: table.rows.length,
    });
  }
  for (const entry of await redisEntries(storage))
    kept.push({
      kind: "redis keys",
      where: `redis:${entry.key}`,
      text: `${entry.key} ${entry.value}`,
      rawPage: false,
    });
  // The raw SQLite files too: a deleted row (a published outbox message) may linger in free pages.
  for (const dir of [storage.dataDir, storage.sqliteDir]) {
    for (const file of dir ? filesUnder(dir) : []) {
      const rawPage = /\.sqlite(-wal|-shm|-journal)?$/.test(file);
      const text = fs.readFileSync(file, "latin1");
      kept.push({ kind: "files", where: `file:${path.basename(file)}`, text, rawPage });
    }
  }
  return kept;
}

interface TableRows {
  where: string;
  rows: unknown[];
}

async function relationalTables(storage: StorageLocations): Promise<TableRows[]> {
  if (storage.mysqlUrl) return mysqlTables(storage.mysqlUrl);
  if (storage.sqliteDir) return sqliteTables(storage.sqliteDir);
  return [];
}

/** Every table of the node's base database and of each `<base>_<service>` database. */
async function mysqlTables(mysqlUrl: string): Promise<TableRows[]> {
  const url = new URL(mysqlUrl);
  const base = url.pathname.slice(1);
  url.pathname = "/";
  const admin = new Sequelize(url.toString(), { dialect: "mysql", logging: false });
  try {
    const databases = await admin.query<{ name: string }>(
      "SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name = ? OR schema_name LIKE ?",
      { replacements: [base, `${base}\\_%`], type: QueryTypes.SELECT },
    );
    const out: TableRows[] = [];
    for (const { name: db } of databases) {
      const tables = await admin.query<{ name: string }>(
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ?",
        { replacements: [db], type: QueryTypes.SELECT },
      );
      for (const { name: table } of tables) {
        const rows = await admin.query(`SELECT * FROM \`${db}\`.\`${table}\``, {
          type: QueryTypes.SELECT,
        });
        out.push({ where: `mysql:${db}.${table}`, rows });
      }
    }
    return out;
  } finally {
    await admin.close();
  }
}

/** Every table of every SQLite file (one per service) in the directory. */
async function sqliteTables(dir: string): Promise<TableRows[]> {
  const out: TableRows[] = [];
  for (const file of filesUnder(dir).filter((f) => f.endsWith(".sqlite"))) {
    const db = new Sequelize({ dialect: "sqlite", storage: file, logging: false });
    try {
      const tables = await db.query<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table'",
        { type: QueryTypes.SELECT },
      );
      for (const { name: table } of tables) {
        const rows = await db.query(`SELECT * FROM "${table}"`, { type: QueryTypes.SELECT });
        out.push({ where: `sqlite:${path.basename(file)}.${table}`, rows });
      }
    } finally {
      await db.close();
    }
  }
  return out;
}

/** Every key matching the node's patterns, with its value whatever its type. */
async function redisEntries(storage: StorageLocations): Promise<{ key: string; value: string }[]> {
  if (!storage.redisUrl || !storage.redisPatterns.length) return [];
  const redis = new Redis(storage.redisUrl, { maxRetriesPerRequest: 2 });
  try {
    const keys = new Set<string>();
    for (const pattern of storage.redisPatterns) {
      let cursor = "0";
      do {
        const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
        batch.forEach((k) => keys.add(k));
        cursor = next;
      } while (cursor !== "0");
    }
    const out: { key: string; value: string }[] = [];
    for (const key of keys) out.push({ key, value: await redisValue(redis, key) });
    return out;
  } finally {
    redis.disconnect();
  }
}

async function redisValue(redis: Redis, key: string): Promise<string> {
  const type = await redis.type(key);
  const text = (values: unknown) => JSON.stringify(values);
  switch (type) {
    case "string":
      return (await redis.getBuffer(key))?.toString("latin1") ?? "";
    case "hash":
      return text(await redis.hgetall(key));
    case "list":
      return text(await redis.lrange(key, 0, -1));
    case "set":
      return text(await redis.smembers(key));
    case "zset":
      return text(await redis.zrange(key, 0, -1, "WITHSCORES"));
    case "stream":
      return text(await redis.xrange(key, "-", "+"));
    default:
      return ""; // expired between SCAN and TYPE
  }
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true }).flatMap((entry) => {
    const full = path.join(entry.parentPath, entry.name);
    return entry.isFile() ? [full] : [];
  });
}

/** The end of every security suite: what it sent left no card data behind anywhere. */
export async function expectNoCardDataAtRest(node: {
  storage: StorageLocations;
  logs: LogCapture;
}): Promise<void> {
  const { hits, looked } = await scanAtRest(node.storage, node.logs);
  // The scan read something of every kind, so an empty result means something.
  expect(looked.tables).toBeGreaterThan(10);
  expect(looked.rows).toBeGreaterThan(0);
  expect(looked["log lines"]).toBeGreaterThan(0);
  if (node.storage.redisUrl) expect(looked["redis keys"]).toBeGreaterThan(0);
  expect(hits).toEqual([]);
}
