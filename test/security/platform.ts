import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ServiceSchema } from "moleculer";
import type { Money } from "../../lib/contracts/catalog";
import { infrastructureOf } from "../../lib/infra";
import { DOMAIN_SERVICES } from "../../services/api/api.service";
import CartService from "../../services/cart/cart.service";
import CatalogService from "../../services/catalog/catalog.service";
import InventoryService from "../../services/inventory/inventory.service";
import NotificationsService from "../../services/notifications/notifications.service";
import DeadLettersService from "../../services/ops/dead-letters.service";
import OrdersService from "../../services/orders/orders.service";
import PaymentsService from "../../services/payments/payments.service";
import { createSandboxProvider, SandboxProvider } from "../../services/payments/sandbox/server";
import SearchService from "../../services/search/search.service";
import UsersService from "../../services/users/users.service";
import { Platform, PlatformResponse, startPlatform, withRealServers } from "../helpers/platform";
import { adaptersFor, deleteRedisKeys, servers, uniqueName } from "../helpers/servers";
import { LogCapture, captureLogs } from "./log-capture";

/**
 * The node the security suite attacks: every service of the all-in-one node
 * (DOMAIN_SERVICES plus the dead-letter store) behind the real gateway, the
 * real payments service talking to a sandbox provider of its own (so tests
 * can list what was charged), an admin account, and log lines captured for
 * the card-data scan. "embedded" runs on SQLite files and in-process
 * adapters; "mariadb+redis" on the real servers (databases, key-value,
 * cache, queues and channels), each run under names of its own.
 */
export type StorageMode = "embedded" | "mariadb+redis";

/** The storage modes this machine can run (on CI both, or the suite fails). */
export function storageModes(): StorageMode[] {
  const available = adaptersFor("mysql", "redis");
  return available.includes("mysql") && available.includes("redis")
    ? ["embedded", "mariadb+redis"]
    : ["embedded"];
}

/** Every service the all-in-one node runs, the gateway aside. */
export const ALL_SERVICES: ServiceSchema[] = [
  UsersService,
  CatalogService,
  InventoryService,
  SearchService,
  CartService,
  OrdersService,
  PaymentsService,
  NotificationsService,
  DeadLettersService as unknown as ServiceSchema,
];

export const PASSWORD = "correct horse battery staple";
export const USD = (amount: number): Money => ({ amount, currency: "USD" });
export const ADDRESS = {
  name: "Sam Shopper",
  line1: "1 Main Street",
  city: "Springfield",
  postalCode: "12345",
  country: "US",
};

export interface ErrorEnvelope {
  error: {
    type: string;
    message: string;
    code: number;
    requestId: string;
    details: { field?: string; message: string }[];
  };
}

export interface Customer {
  id: string;
  email: string;
  token: string;
  refreshToken: string;
}

/** A charge as the sandbox provider keeps it (the part the suite reads). */
export interface SandboxCharge {
  id: string;
  amount: number;
  currency: string;
  status: string;
  amount_refunded: number;
}

/** Where the node keeps things at rest, for the card-data scan. */
export interface StorageLocations {
  mode: StorageMode;
  /** Directory of the embedded SQLite files (one per service). */
  sqliteDir?: string;
  /** The node's MYSQL_URL: its per-service databases are `<db>_<service>`. */
  mysqlUrl?: string;
  redisUrl?: string;
  /** Glob patterns covering every Redis key of this node (key-value, cache, queues, channels). */
  redisPatterns: string[];
  /** DATA_DIR: keys, written emails. */
  dataDir: string;
}

export interface SecurityPlatform {
  mode: StorageMode;
  platform: Platform;
  api: Platform["request"];
  admin: { email: string; password: string; token: string };
  /** A category the suite's products go in. */
  categoryId: string;
  logs: LogCapture;
  storage: StorageLocations;
  /** Every charge the provider made for an order. */
  chargesFor(orderId: string): Promise<SandboxCharge[]>;
  /** Registers and logs in a new customer. */
  customer(): Promise<Customer>;
  /** An active product at `price` with `onHand` units in stock. */
  product(price: Money, onHand?: number): Promise<string>;
  stop(): Promise<void>;
}

export interface SecurityPlatformOptions {
  mode?: StorageMode;
  /** Configuration on top of the suite's (rate limits off, info logs). */
  env?: Record<string, string>;
}

export async function startSecurityPlatform(
  options: SecurityPlatformOptions = {},
): Promise<SecurityPlatform> {
  const mode = options.mode ?? "embedded";
  assertEveryRoutedServiceRuns();
  const logs = captureLogs();
  const name = uniqueName("sec");
  const admin = {
    email: `${uniqueName("admin")}@example.com`,
    password: randomBytes(18).toString("base64url"),
  };
  const apiKey = `sk_test_${randomBytes(12).toString("hex")}`;
  const webhookSecret = `whsec_${randomBytes(12).toString("hex")}`;
  const sandbox: SandboxProvider = createSandboxProvider({
    apiKey,
    webhookSecret,
    asyncDelayMs: 0,
  });
  const sandboxUrl = await sandbox.listen(0);
  const sqliteDir = fs.mkdtempSync(path.join(os.tmpdir(), "commerce-security-"));
  const real = mode === "mariadb+redis" ? withRealServers("mysql", "redis") : undefined;
  // One unique name in every Redis prefix, so a pattern finds all of this node's keys.
  const channelsPrefix = `${name}-channels`;
  if (real) real.env.REDIS_PREFIX = `${name}:`;

  let platform: Platform;
  try {
    platform = await startPlatform({
      services: ALL_SERVICES,
      env: {
        LOG_LEVEL: "info",
        RATE_LIMIT_MAX: "0",
        AUTH_RATE_LIMIT_MAX: "0",
        ADMIN_EMAIL: admin.email,
        ADMIN_PASSWORD: admin.password,
        CHANNELS_PREFIX: channelsPrefix,
        PAYMENT_GATEWAY_URL: sandboxUrl,
        PAYMENT_GATEWAY_API_KEY: apiKey,
        PAYMENT_WEBHOOK_SECRET: webhookSecret,
        ...(real ? { ...real.env, CHANNELS_URL: servers.redis! } : { SQLITE_STORAGE: sqliteDir }),
        ...options.env,
      },
    });
  } catch (err) {
    logs.release();
    fs.rmSync(sqliteDir, { recursive: true, force: true });
    await sandbox.close();
    await real?.cleanup();
    throw err;
  }
  // Webhooks of charges that settle later come back through the gateway.
  await sandboxApi("POST", "/v1/webhook_endpoints", {
    url: `${platform.baseUrl}/payments/webhooks/sandbox`,
  });

  const api = platform.request;
  const adminToken = await login(api, admin.email, admin.password);
  const category = await api<{ id: string }>("POST", "/categories", {
    token: adminToken.accessToken,
    body: { name: `Security ${name}` },
  });
  expectStatus(category, 201);

  function sandboxApi<T>(method: string, urlPath: string, body?: object): Promise<T> {
    return fetch(sandboxUrl + urlPath, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    }).then((r) => r.json() as Promise<T>);
  }

  return {
    mode,
    platform,
    api,
    admin: { ...admin, token: adminToken.accessToken },
    categoryId: category.body.id,
    logs,
    storage: {
      mode,
      sqliteDir: real ? undefined : sqliteDir,
      mysqlUrl: real?.env.MYSQL_URL,
      redisUrl: real?.env.REDIS_URL,
      redisPatterns: real ? [`${name}*`] : [],
      dataDir: infrastructureOf(platform.broker).config.dataDir,
    },
    async chargesFor(orderId) {
      const list = await sandboxApi<{ data: SandboxCharge[] }>(
        "GET",
        `/v1/test_helpers/charges?order_id=${encodeURIComponent(orderId)}`,
      );
      return list.data;
    },
    async customer() {
      const email = `shopper_${randomUUID()}@example.com`;
      const registered = await api<{ id: string }>("POST", "/auth/register", {
        body: { email, password: PASSWORD, name: "Sam Shopper" },
      });
      expectStatus(registered, 201);
      const tokens = await login(api, email, PASSWORD);
      return {
        id: registered.body.id,
        email,
        token: tokens.accessToken,
        refreshToken: tokens.refreshToken,
      };
    },
    async product(price, onHand = 100) {
      const created = await api<{ id: string }>("POST", "/products", {
        token: adminToken.accessToken,
        body: {
          sku: uniqueName("SKU").replace(/_/g, "-"),
          name: `Product ${uniqueName("p")}`,
          description: "A product of the security suite.",
          brand: "Acme",
          categoryId: category.body.id,
          price,
          status: "active",
        },
      });
      expectStatus(created, 201);
      const stock = await api("PUT", `/products/${created.body.id}/stock`, {
        token: adminToken.accessToken,
        body: { onHand },
      });
      expectStatus(stock, 200);
      return created.body.id;
    },
    async stop() {
      await platform.stop();
      logs.release();
      await sandbox.close();
      fs.rmSync(sqliteDir, { recursive: true, force: true });
      if (real) {
        await real.cleanup();
        // Cache, queues and channels too: every key of this node starts with its name.
        await deleteRedisKeys(servers.redis!, name);
      }
    },
  };
}

/** A new service in DOMAIN_SERVICES must be added here, or the suite would not attack it. */
function assertEveryRoutedServiceRuns(): void {
  const running = new Set(ALL_SERVICES.map((s) => s.name));
  const missing = DOMAIN_SERVICES.filter((name) => !running.has(name));
  if (missing.length)
    throw new Error(`The security suite does not start routed services: ${missing.join(", ")}`);
}

async function login(
  api: Platform["request"],
  email: string,
  password: string,
): Promise<{ accessToken: string; refreshToken: string }> {
  const res = await api<{ accessToken: string; refreshToken: string }>("POST", "/auth/login", {
    body: { email, password },
  });
  expectStatus(res, 200);
  return res.body;
}

function expectStatus(res: PlatformResponse, status: number): void {
  if (res.status !== status)
    throw new Error(`Expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
}

/** The shape every 4xx/5xx body must have: the JSON error envelope, code = HTTP status. */
export function isErrorEnvelope(res: PlatformResponse): boolean {
  const body = res.body as Partial<ErrorEnvelope> | string;
  if (typeof body !== "object" || body === null || !body.error) return false;
  const { type, message, code, requestId, details } = body.error;
  return (
    typeof type === "string" &&
    typeof message === "string" &&
    code === res.status &&
    typeof requestId === "string" &&
    requestId.length > 0 &&
    Array.isArray(details)
  );
}
