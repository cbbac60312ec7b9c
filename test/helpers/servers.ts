import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { Sequelize } from "sequelize";
import { openDatabase, RelationalDatabase } from "../../lib/infra/relational";
import { serviceMigrations } from "../../services/migrations";

/**
 * Real servers for integration suites. `.ci/run` sets TEST_MYSQL_URL,
 * TEST_REDIS_URL and TEST_NATS_URL after making sure the servers answer. On
 * CI (CI=true) a suite that needs a server that is not configured fails
 * instead of being skipped; on a developer machine it is left out of the run.
 */
export const servers = {
  mysql: process.env.TEST_MYSQL_URL || undefined,
  redis: process.env.TEST_REDIS_URL || undefined,
  nats: process.env.TEST_NATS_URL || undefined,
};

export type ServerName = keyof typeof servers;

const onCi = process.env.CI === "true" || process.env.CI === "1";

/**
 * Returns the adapters a contract suite should run against: always "embedded",
 * plus each named real server that is configured. On CI a missing server throws.
 */
export function adaptersFor<N extends ServerName>(...names: N[]): ("embedded" | N)[] {
  const out: ("embedded" | N)[] = ["embedded"];
  for (const name of names) {
    if (servers[name]) out.push(name);
    else if (onCi)
      throw new Error(
        `CI needs TEST_${name.toUpperCase()}_URL: this suite runs against real ${name}`,
      );
  }
  return out;
}

/** Like adaptersFor, for a suite that only makes sense on a real server. */
export function serverAvailable(name: ServerName): boolean {
  if (servers[name]) return true;
  if (onCi)
    throw new Error(
      `CI needs TEST_${name.toUpperCase()}_URL: this suite runs against real ${name}`,
    );
  return false;
}

/**
 * Like adaptersFor without "embedded": the named real servers that are
 * configured, for a port that has no in-process adapter to compare with (a
 * single-node broker has no transporter). On CI a missing server throws.
 */
export function realServersFor<N extends ServerName>(...names: N[]): N[] {
  return names.filter((name) => serverAvailable(name));
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(6).toString("hex")}`;
}

/** A MySQL URL whose database name is unique to the caller (per-service databases hang off it). */
export function freshMysqlUrl(): string {
  const url = new URL(servers.mysql!);
  url.pathname = `/${uniqueName("t")}`;
  return url.toString();
}

/** Drops every database created under a freshMysqlUrl() (the base and its per-service databases). */
export async function dropMysqlDatabases(mysqlUrl: string): Promise<void> {
  const url = new URL(mysqlUrl);
  const base = url.pathname.slice(1);
  url.pathname = "/";
  const admin = new Sequelize(url.toString(), { dialect: "mysql", logging: false });
  try {
    const [rows] = (await admin.query(`SHOW DATABASES LIKE '${base}%'`)) as [
      Record<string, string>[],
      unknown,
    ];
    for (const row of rows) {
      const name = Object.values(row)[0];
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
    }
  } finally {
    await admin.close();
  }
}

/** A Redis key prefix unique to the caller, so suites never see each other's keys. */
export function freshRedisPrefix(): string {
  return `${uniqueName("test")}:`;
}

/** Removes every Redis key under a prefix (a suite's cleanup). */
export async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 2 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

/**
 * A service's migrated database for a `describe.each(adaptersFor("mysql"))`
 * suite: SQLite in memory when embedded, else a fresh MariaDB database that
 * `close` drops again.
 */
export async function openServiceDatabase(
  service: keyof typeof serviceMigrations,
  store: "embedded" | "mysql",
): Promise<{ db: RelationalDatabase; close(): Promise<void> }> {
  const mysqlUrl = store === "mysql" ? freshMysqlUrl() : undefined;
  const db = await openDatabase(
    service,
    mysqlUrl
      ? { mysqlUrl, perServiceDatabase: true, sqliteStorage: "unused" }
      : { sqliteStorage: ":memory:", perServiceDatabase: false },
  );
  await db.migrate(serviceMigrations[service]);
  return {
    db,
    async close() {
      await db.close();
      if (mysqlUrl) await dropMysqlDatabases(mysqlUrl);
    },
  };
}
