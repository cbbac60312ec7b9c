import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { Server } from "node:http";
import { ServiceBroker, ServiceSchema } from "moleculer";
import { buildBrokerOptions } from "../../lib/broker";
import { loadConfig } from "../../lib/config";
import { createApiService } from "../../services/api/api.service";
import {
  deleteRedisKeys,
  dropMysqlDatabases,
  freshMysqlUrl,
  freshRedisPrefix,
  servers,
} from "./servers";

/**
 * A real node for HTTP tests: a fresh broker built like production's
 * (buildBrokerOptions + loadConfig), the services under test, and the api
 * gateway on a free port. Requests go over real HTTP with Node's fetch. Tokens
 * for it: infrastructureOf(platform.broker).signingKeys().privateKey with
 * signAccessToken (lib/auth/jwt.ts) and the config's issuer and audience.
 *
 *   const platform = await startPlatform({ services: [UsersService] });
 *   const res = await platform.request("POST", "/auth/login", { body: { email, password } });
 *   await platform.stop();
 */
export interface PlatformOptions {
  /** Services to run besides the api gateway (always added); their `rest` actions are routed. */
  services?: ServiceSchema[];
  /** Configuration env vars, on top of the test defaults (in-memory SQLite, warn logs, port 0). */
  env?: Record<string, string>;
}

export interface RequestOptions {
  /** An object is sent as JSON; a string is sent as it is (as JSON unless headers say otherwise). */
  body?: unknown;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  headers?: Record<string, string>;
}

export interface PlatformResponse<T = unknown> {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** Parsed JSON when the response says JSON, the text otherwise. */
  body: T;
}

export interface Platform {
  broker: ServiceBroker;
  /** http://127.0.0.1:<port>/api/v1 (https:// when the env gives HTTPS_CERT_FILE / HTTPS_KEY_FILE) */
  baseUrl: string;
  /** http(s)://127.0.0.1:<port> (for the root probes and the docs assets) */
  origin: string;
  /** `path` is relative to baseUrl ("/auth/login"), or an absolute URL. */
  request<T = unknown>(
    method: string,
    path: string,
    options?: RequestOptions,
  ): Promise<PlatformResponse<T>>;
  stop(): Promise<void>;
}

// One signing key and one sealing key per test run, given as configuration like production
// does (no key files).
let testKeyPem: string | undefined;
const testSealingKey = randomBytes(32).toString("hex");
function testSigningKey(): string {
  testKeyPem ??= generateKeyPairSync("ec", { namedCurve: "P-256" })
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString();
  return testKeyPem;
}

export async function startPlatform(options: PlatformOptions = {}): Promise<Platform> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "commerce-test-"));
  const env = {
    NODE_ENV: "test",
    JWT_PRIVATE_KEY: testSigningKey(),
    MESSAGE_SEALING_KEY: testSealingKey,
    SQLITE_STORAGE: ":memory:",
    LOG_LEVEL: "warn",
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    ...options.env,
  };
  const services = options.services ?? [];
  const broker = new ServiceBroker(buildBrokerOptions(loadConfig(env)));
  try {
    for (const schema of services) broker.createService(schema);
    broker.createService(createApiService({ services: services.map((s) => s.name) }));
    await broker.start();
  } catch (err) {
    await broker.stop().catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }

  const gateway = broker.getLocalService("api") as unknown as { server: Server; isHTTPS: boolean };
  const { port } = gateway.server.address() as AddressInfo;
  const origin = `${gateway.isHTTPS ? "https" : "http"}://127.0.0.1:${port}`;
  const baseUrl = `${origin}/api/v1`;

  return {
    broker,
    baseUrl,
    origin,
    request: (method, urlPath, opts) =>
      send(/^https?:\/\//.test(urlPath) ? urlPath : baseUrl + urlPath, method, opts),
    async stop() {
      await broker.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** One HTTP request as the platform helpers make it (JSON in and out). */
export async function send<T>(
  url: string,
  method: string,
  { body, token, headers = {} }: RequestOptions = {},
): Promise<PlatformResponse<T>> {
  const outgoing: Record<string, string> = { ...headers };
  if (token) outgoing.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === "string" ? body : JSON.stringify(body);
    const hasType = Object.keys(outgoing).some((h) => h.toLowerCase() === "content-type");
    if (!hasType) outgoing["content-type"] = "application/json";
  }
  const res = await fetch(url, { method, headers: outgoing, body: payload });
  const text = await res.text();
  const isJson = (res.headers.get("content-type") ?? "").includes("json");
  return {
    status: res.status,
    headers: Object.fromEntries(res.headers.entries()),
    body: (isJson && text ? JSON.parse(text) : text) as T,
  };
}

export interface RealServers {
  /** MYSQL_URL / REDIS_URL / REDIS_PREFIX for startPlatform's `env`, fresh for this caller. */
  env: Record<string, string>;
  /** Drops the databases and deletes the Redis keys made under `env`. */
  cleanup(): Promise<void>;
}

/**
 * Env for running a platform against the real servers (TEST_MYSQL_URL,
 * TEST_REDIS_URL) with a database and key prefix of its own. Pass the servers
 * you need (default: both); check availability first with adaptersFor or
 * serverAvailable from ./servers.
 */
export function withRealServers(...names: ("mysql" | "redis")[]): RealServers {
  const wanted = names.length ? names : (["mysql", "redis"] as const);
  const env: Record<string, string> = {};
  for (const name of wanted) {
    if (!servers[name])
      throw new Error(`withRealServers: TEST_${name.toUpperCase()}_URL is not set`);
  }
  if (wanted.includes("mysql")) env.MYSQL_URL = freshMysqlUrl();
  if (wanted.includes("redis")) {
    env.REDIS_URL = servers.redis!;
    env.REDIS_PREFIX = freshRedisPrefix();
  }
  return {
    env,
    async cleanup() {
      if (env.MYSQL_URL) await dropMysqlDatabases(env.MYSQL_URL);
      if (env.REDIS_URL) await deleteRedisKeys(env.REDIS_URL, env.REDIS_PREFIX);
    },
  };
}

/** Logs in through the API and returns the access token; throws when the login is refused. */
export async function accessTokenFor(
  platform: Platform,
  email: string,
  password: string,
): Promise<string> {
  const res = await platform.request<{ accessToken: string }>("POST", "/auth/login", {
    body: { email, password },
  });
  if (res.status !== 200) throw new Error(`Login of ${email} answered ${res.status}`);
  return res.body.accessToken;
}

/** Registers a fresh customer through the API and returns its access token. */
export async function newCustomerToken(platform: Platform, password: string): Promise<string> {
  const email = `shopper_${randomUUID()}@example.com`;
  const registered = await platform.request("POST", "/auth/register", {
    body: { email, password, name: "Sam Shopper" },
  });
  if (registered.status !== 201) throw new Error(`Registration answered ${registered.status}`);
  return accessTokenFor(platform, email, password);
}
