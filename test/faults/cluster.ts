import { ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import fs from "node:fs";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { cleanUpChannels } from "../helpers/channels";
import {
  deleteRedisKeys,
  dropMysqlDatabases,
  freshMysqlUrl,
  freshRedisPrefix,
  servers,
  uniqueName,
} from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The split topology as real OS processes, for fault tests that kill nodes:
 *
 *   front     api, users, catalog, inventory, cart, deadletters (the gateway on `apiUrl`)
 *   orders    the checkout saga
 *   payments  charges and refunds, through…
 *   sandbox   …the sandbox payment provider, a process of its own so that
 *             killing payments does not lose the provider's books
 *
 * Every node runs the TypeScript sources the way `npm run dev` does
 * (moleculer-runner under ts-node/SWC) with one shared environment: NATS
 * between nodes under a namespace of this cluster's own, Redis Streams
 * channels under their own prefix with a short ack wait (a killed consumer's
 * messages are claimed again quickly), fresh MariaDB databases, Redis keys
 * under their own prefix, one JWT key and one provider key pair. A node's
 * output goes to `<logDir>/<group>.log` (every start appended).
 *
 * `observer` is a broker with no services joined to the cluster over NATS:
 * the test calls internal actions through it (outboxStatus, inventory.levels…).
 *
 *   const cluster = await startCluster();
 *   await cluster.kill("payments");          // SIGKILL, waits for the exit
 *   await cluster.start("payments");         // waits until the gateway sees it again
 *   await cluster.stop({ keepLogs: false });
 */
export type NodeGroup = "front" | "orders" | "payments" | "sandbox";

const SERVICE_FILES: Record<Exclude<NodeGroup, "sandbox">, string[]> = {
  front: [
    "api/api.service.ts",
    "users/users.service.ts",
    "catalog/catalog.service.ts",
    "inventory/inventory.service.ts",
    "cart/cart.service.ts",
    "ops/dead-letters.service.ts",
  ],
  orders: ["orders/orders.service.ts"],
  payments: ["payments/payments.service.ts"],
};

/** Services the gateway must see registered before the cluster counts as up. */
const ROUTED_SERVICES: Record<NodeGroup, string[]> = {
  front: ["users", "catalog", "inventory", "cart"],
  orders: ["orders"],
  payments: ["payments"],
  sandbox: [],
};

/** What a node prints once it is serving. */
const READY_LINE: Record<NodeGroup, RegExp> = {
  front: /ServiceBroker with \d+ service\(s\) started successfully/,
  orders: /ServiceBroker with \d+ service\(s\) started successfully/,
  payments: /ServiceBroker with \d+ service\(s\) started successfully/,
  sandbox: /Sandbox payment provider listening on/,
};

const ROOT = path.resolve(__dirname, "../..");
/** Node 22 of the project, never whatever `node` the shell has. */
const NODE = path.join(ROOT, "node_modules/.bin/node");
const RUNNER = path.join(ROOT, "node_modules/moleculer/bin/moleculer-runner.js");
const START_TIMEOUT_MS = 60_000;
const API_KEY = "sk_test_fault_cluster";
const WEBHOOK_SECRET = "whsec_fault_cluster";

export interface ClusterOptions {
  /** Extra configuration for every node (on top of the cluster's). */
  env?: Record<string, string>;
}

export interface Cluster {
  /** http://127.0.0.1:<port>/api/v1 */
  apiUrl: string;
  /** Base URL of the sandbox payment provider, and its API key for the test helpers. */
  sandboxUrl: string;
  sandboxApiKey: string;
  /** A service-less broker in the cluster, for internal actions. */
  observer: ServiceBroker;
  /** Where each node's output is written. */
  logDir: string;
  /** Sends the signal to the group's process and waits for it to exit. */
  kill(group: NodeGroup, signal?: NodeJS.Signals): Promise<void>;
  /** Starts the group's process (again) and waits until it serves. */
  start(group: NodeGroup): Promise<void>;
  /** Kills every node, drops the databases and Redis keys; logs are kept when asked. */
  stop(opts?: { keepLogs?: boolean }): Promise<void>;
}

/** Fails (also on CI) unless TEST_MYSQL_URL, TEST_REDIS_URL and TEST_NATS_URL are all set. */
function requireServers(): { mysql: string; redis: string; nats: string } {
  const { mysql, redis, nats } = servers;
  if (!mysql || !redis || !nats)
    throw new Error("The fault cluster needs TEST_MYSQL_URL, TEST_REDIS_URL and TEST_NATS_URL");
  return { mysql, redis, nats };
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const real = requireServers();
  const namespace = uniqueName("faults");
  const channelsPrefix = namespace;
  const mysqlUrl = freshMysqlUrl();
  const redisPrefix = freshRedisPrefix();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "fault-cluster-"));
  const logDir = path.join(dataDir, "logs");
  fs.mkdirSync(logDir);
  const [apiPort, sandboxPort] = [await freePort(), await freePort()];
  const apiOrigin = `http://127.0.0.1:${apiPort}`;
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? os.tmpdir(),
    NODE_ENV: "test",
    LOG_LEVEL: "info",
    LOG_FORMAT: "text",
    // moleculer-runner reads broker options from same-named variables: this one isolates the cluster.
    NAMESPACE: namespace,
    TRANSPORTER: real.nats,
    CHANNELS_URL: real.redis,
    CHANNELS_PREFIX: channelsPrefix,
    CHANNELS_ACK_WAIT_MS: "3000",
    CHANNELS_POLL_INTERVAL_MS: "250",
    MYSQL_URL: mysqlUrl,
    REDIS_URL: real.redis,
    REDIS_PREFIX: redisPrefix,
    DATA_DIR: dataDir,
    JWT_PRIVATE_KEY: generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString(),
    MESSAGE_SEALING_KEY: randomBytes(32).toString("hex"),
    HOST: "127.0.0.1",
    PORT: String(apiPort),
    PAYMENT_GATEWAY_URL: sandboxUrl,
    PAYMENT_GATEWAY_API_KEY: API_KEY,
    PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
    PAYMENT_WEBHOOK_URL: `${apiOrigin}/api/v1/payments/webhooks/sandbox`,
    PAYMENT_CHARGE_RETRY_DELAY_MS: "1000",
    SANDBOX_PROVIDER_PORT: String(sandboxPort),
    // Orders a kill left waiting for their payment end CANCELLED soon.
    ORDER_PAYMENT_TIMEOUT_SEC: "15",
    OUTBOX_SWEEP_INTERVAL_MS: "500",
    OUTBOX_SWEEP_AGE_MS: "2000",
    RATE_LIMIT_MAX: "0",
    AUTH_RATE_LIMIT_MAX: "0",
    ...options.env,
  };

  const processes = new Map<NodeGroup, ChildProcess>();
  const killAllNow = () => {
    for (const child of processes.values()) if (child.exitCode === null) child.kill("SIGKILL");
  };
  // A test run that dies must not leave nodes behind.
  process.once("exit", killAllNow);

  const observer = new ServiceBroker({
    namespace,
    nodeID: `observer-${namespace}`,
    transporter: { type: "NATS", options: { url: real.nats } },
    serializer: "JSON",
    logger: false,
    requestTimeout: 10_000,
  });

  function logFile(group: NodeGroup): string {
    return path.join(logDir, `${group}.log`);
  }

  function tail(group: NodeGroup, lines = 30): string {
    const text = fs.existsSync(logFile(group)) ? fs.readFileSync(logFile(group), "utf8") : "";
    return text.split("\n").slice(-lines).join("\n");
  }

  function launch(group: NodeGroup): ChildProcess {
    const args =
      group === "sandbox"
        ? ["-r", "ts-node/register", "bin/sandbox-provider.ts"]
        : [
            "-r",
            "ts-node/register",
            RUNNER,
            "--config",
            "moleculer.config.ts",
            ...SERVICE_FILES[group].map((file) => `services/${file}`),
          ];
    const out = fs.openSync(logFile(group), "a");
    fs.writeSync(out, `\n===== ${group} started at ${new Date().toISOString()} =====\n`);
    const child = spawn(NODE, args, {
      cwd: ROOT,
      env: { ...env, NODE_ID: `${group}-${namespace}` },
      stdio: ["ignore", out, out],
    });
    fs.closeSync(out);
    processes.set(group, child);
    return child;
  }

  /** Reads the group's log from `offset` until its ready line appears; fails if the node exits. */
  async function waitForReadyLine(group: NodeGroup, child: ChildProcess, offset: number) {
    const outcome = await waitFor(
      () => {
        if (child.exitCode !== null || child.signalCode !== null) return "exited";
        const output = fs.readFileSync(logFile(group), "utf8").slice(offset);
        return READY_LINE[group].test(output) ? "ready" : undefined;
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 100 },
    ).catch(() => "did not start in time");
    if (outcome !== "ready") throw new Error(`The ${group} node ${outcome}:\n${tail(group)}`);
  }

  /** The gateway answers and sees the group's services (its own readiness lists them). */
  async function waitForGateway(group: NodeGroup) {
    const expected = ROUTED_SERVICES[group];
    await waitFor(
      async () => {
        const res = await fetch(`${apiOrigin}/api/v1/health/ready`);
        const body = (await res.json()) as {
          ports: { ok: boolean }[];
          services: { name: string; ok: boolean }[];
        };
        const seen = new Set(body.services.filter((s) => s.ok).map((s) => s.name));
        return body.ports.every((p) => p.ok) && expected.every((name) => seen.has(name));
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 200 },
    ).catch((err: Error) => {
      throw new Error(`The gateway does not see ${group}: ${err.message}\n${tail("front")}`);
    });
  }

  async function start(group: NodeGroup): Promise<void> {
    const running = processes.get(group);
    if (running && running.exitCode === null && running.signalCode === null)
      throw new Error(`the ${group} node is already running`);
    const offset = fs.existsSync(logFile(group)) ? fs.statSync(logFile(group)).size : 0;
    const child = launch(group);
    await waitForReadyLine(group, child, offset);
    if (group !== "sandbox") await waitForGateway(group);
  }

  async function kill(group: NodeGroup, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = processes.get(group);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  }

  async function stop({ keepLogs = false } = {}): Promise<void> {
    await Promise.all([...processes.keys()].map((group) => kill(group)));
    process.removeListener("exit", killAllNow);
    await observer.stop().catch(() => undefined);
    await dropMysqlDatabases(mysqlUrl);
    await deleteRedisKeys(real.redis, redisPrefix);
    await cleanUpChannels("redis", channelsPrefix);
    if (keepLogs) {
      // Kept for whoever investigates the failure.
      console.warn(`Fault cluster logs kept in ${logDir}`);
      return;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }

  const cluster: Cluster = {
    apiUrl: `${apiOrigin}/api/v1`,
    sandboxUrl,
    sandboxApiKey: API_KEY,
    observer,
    logDir,
    kill,
    start,
    stop,
  };
  try {
    // The sandbox first: payments charges through it as soon as it runs.
    await start("sandbox");
    const front = launch("front");
    await waitForReadyLine("front", front, 0);
    await Promise.all([start("orders"), start("payments")]);
    await waitForGateway("front");
    await observer.start();
    await observer.waitForServices(["orders", "payments", "inventory", "catalog", "users"], 30_000);
  } catch (err) {
    await stop({ keepLogs: true });
    throw err;
  }
  return cluster;
}

/** A port nobody listens on right now (the node that gets it binds it a moment later). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
