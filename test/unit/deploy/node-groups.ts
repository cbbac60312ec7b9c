import fs from "node:fs";
import path from "node:path";
import { CONFIG_KEYS } from "../../../lib/config";
import { serviceMigrations } from "../../../services/migrations";

/**
 * What a deployment must give each node, shared by the Compose and the
 * Kubernetes checks: the settings every split node needs, and per service
 * folder (the names `SERVICES` takes) the servers and secrets it uses in
 * production.
 */
export const ROOT = path.join(__dirname, "../../..");

/** Every node: production mode, the shared transporter, channels and Redis, and its probes' metrics port. */
export const SPLIT_NODE_ENV = [
  "NODE_ENV",
  "TRANSPORTER",
  "CHANNELS_URL",
  "REDIS_URL",
  "TRACING_EXPORTER",
  "JAEGER_ENDPOINT",
  "METRICS_PORT",
];

export const SERVICE_NEEDS: Record<string, string[]> = {
  api: ["JWT_PUBLIC_KEY"],
  users: ["MYSQL_URL", "JWT_PRIVATE_KEY", "MESSAGE_SEALING_KEY"],
  ops: ["MYSQL_URL"],
  catalog: ["MYSQL_URL"],
  inventory: ["MYSQL_URL"],
  search: ["ELASTICSEARCH_URL"],
  cart: ["MONGO_URL"],
  orders: ["MYSQL_URL"],
  payments: [
    "MYSQL_URL",
    "PAYMENT_GATEWAY_URL",
    "PAYMENT_GATEWAY_API_KEY",
    "PAYMENT_WEBHOOK_SECRET",
  ],
  notifications: ["MYSQL_URL", "SMTP_URL", "MESSAGE_SEALING_KEY"],
};

/** The service folders under services/ (what `SERVICES` names). */
export function serviceFolders(): string[] {
  const dir = path.join(ROOT, "services");
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .filter((entry) =>
      fs.readdirSync(path.join(dir, entry.name)).some((f) => f.endsWith(".service.ts")),
    )
    .map((entry) => entry.name)
    .sort();
}

/** The Moleculer names of the services a folder defines (`name: "…"` in its *.service.ts). */
function serviceNamesIn(folder: string): string[] {
  const dir = path.join(ROOT, "services", folder);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".service.ts"))
    .flatMap((f) => {
      const match = /^\s*name:\s*"([^"]+)"/m.exec(fs.readFileSync(path.join(dir, f), "utf8"));
      return match ? [match[1]] : [];
    });
}

/** Folders whose services keep relational data (they have migrations). */
export function foldersWithDatabases(): string[] {
  const withMigrations = new Set(Object.keys(serviceMigrations));
  return serviceFolders().filter((folder) =>
    serviceNamesIn(folder).some((name) => withMigrations.has(name)),
  );
}

/** What a node running these service folders must be given. */
export function requiredEnv(services: string[]): string[] {
  return [...new Set([...SPLIT_NODE_ENV, ...services.flatMap((s) => SERVICE_NEEDS[s] ?? [])])];
}

export function servicesOf(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

const CONFIG_ENV = new Set(Object.values(CONFIG_KEYS).map((k) => k.env));

/**
 * Variables a node reads: the documented configuration keys, the
 * per-service `<SERVICE>_MYSQL_URL`, and `SERVICES` (moleculer-runner's).
 */
export function isKnownNodeVariable(name: string): boolean {
  if (CONFIG_ENV.has(name) || name === "SERVICES") return true;
  const perService = /^([A-Z0-9_]+)_MYSQL_URL$/.exec(name);
  return (
    !!perService &&
    Object.keys(serviceMigrations).some(
      (service) => service.toUpperCase().replace(/[^A-Z0-9]/g, "_") === perService[1],
    )
  );
}
