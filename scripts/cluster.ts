/**
 * `npm run start:cluster [group…]`: the platform split into its node groups
 * (lib/ops/node-groups.ts: gateway, users, catalog, cart, orders, payments,
 * notifications), one process per group — `node dist/bin/start.js` with
 * SERVICES naming the group's services — connected by a real transporter.
 * Name groups to start only those (e.g. to run the others elsewhere).
 *
 * Environment: what every node reads (see README's configuration table),
 * passed to each child. TRANSPORTER and CHANNELS_URL default to the local
 * NATS (nats://127.0.0.1:4222), which must be running with JetStream. With
 * no MYSQL_URL each service keeps its SQLite file under the shared DATA_DIR
 * (each service runs in one process only, so no file is shared); with no
 * REDIS_URL each node has its own in-process cache, counters and queues.
 * The JWT key and the sandbox provider's secrets, when not configured, are
 * generated into DATA_DIR here, once, before the nodes start and read them.
 * The payments node runs the sandbox provider (no PAYMENT_GATEWAY_URL),
 * whose webhooks go to the gateway at PORT on this machine.
 *
 * Each node's output is prefixed with its group. Ctrl-C (SIGINT) or SIGTERM
 * is passed to every node, which drains and exits; this process exits when
 * they all have (with 1 if any failed). A node that stops on its own stops
 * the others too.
 */
import { ChildProcess, spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { loadSigningKeys } from "../lib/auth/keys";
import { loadMessageSealer } from "../lib/messaging/sealing";
import { Config, loadConfig } from "../lib/config";
import { NODE_GROUPS, NodeGroup } from "../lib/ops/node-groups";
import { loadProviderSecrets } from "../services/payments/provider/secrets";

const LOCAL_NATS = "nats://127.0.0.1:4222";
/** Schemes a transporter URL shares with the channel adapters (so it can serve as CHANNELS_URL). */
const CHANNEL_SCHEMES = ["kafka", "nats", "tls", "redis", "rediss"];
const START_SCRIPT = path.resolve(__dirname, "../bin/start.js");

function say(message: string): void {
  process.stdout.write(`[cluster] ${message}\n`);
}

/** The environment every node gets: the caller's, with the transporter and channels settled. */
function clusterEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...base };
  if (!env.TRANSPORTER) {
    env.TRANSPORTER = LOCAL_NATS;
    say(`TRANSPORTER not set: using the local NATS (${LOCAL_NATS})`);
  }
  if (!env.CHANNELS_URL) {
    const scheme = env.TRANSPORTER.slice(0, env.TRANSPORTER.indexOf(":"));
    if (!CHANNEL_SCHEMES.includes(scheme))
      throw new Error(
        `CHANNELS_URL not set, and TRANSPORTER (${scheme}) cannot carry channels: set CHANNELS_URL (kafka://, nats:// or redis://)`,
      );
    env.CHANNELS_URL = env.TRANSPORTER;
    say(`CHANNELS_URL not set: channels on the transporter's server (${scheme})`);
  }
  return env;
}

/** Keys every node must agree on, generated once (outside production) before any node starts. */
function prepareSharedSecrets(config: Config, groups: NodeGroup[]): void {
  loadSigningKeys(config, say);
  const sealsMessages = groups.some((g) =>
    g.services.some((s) => s === "users" || s === "notifications"),
  );
  if (sealsMessages) loadMessageSealer(config, say);
  const runsSandbox = groups.some((g) => g.services.includes("payments"));
  if (runsSandbox && !config.paymentGatewayUrl) loadProviderSecrets(config, say);
}

function pickGroups(names: string[]): NodeGroup[] {
  if (!names.length) return [...NODE_GROUPS];
  const unknown = names.filter((n) => !NODE_GROUPS.some((g) => g.name === n));
  if (unknown.length)
    throw new Error(
      `Unknown node group(s): ${unknown.join(", ")} (groups: ${NODE_GROUPS.map((g) => g.name).join(", ")})`,
    );
  return NODE_GROUPS.filter((g) => names.includes(g.name));
}

/** The env of one group's node: its services, its own node id and metrics port. */
function nodeEnv(env: NodeJS.ProcessEnv, group: NodeGroup, index: number): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {
    ...env,
    SERVICES: group.services.join(","),
    NODE_ID: `${env.NODE_ID || os.hostname()}-${group.name}`,
  };
  // One port each: the nodes share this machine (0 still means any free port).
  const metricsPort = Number(env.METRICS_PORT);
  if (env.METRICS_PORT && metricsPort > 0) out.METRICS_PORT = String(metricsPort + index);
  return out;
}

/** Copies a stream line by line with a prefix, so interleaved node logs stay readable. */
function prefixLines(stream: NodeJS.ReadableStream, prefix: string, to: NodeJS.WritableStream) {
  readline.createInterface({ input: stream }).on("line", (line) => to.write(`${prefix} ${line}\n`));
}

function main(): void {
  const env = clusterEnv(process.env);
  const config = loadConfig(env);
  const groups = pickGroups(process.argv.slice(2));
  prepareSharedSecrets(config, groups);

  const width = Math.max(...groups.map((g) => g.name.length));
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  let exitCode = 0;

  const stopAll = (signal: NodeJS.Signals) => {
    stopping = true;
    for (const child of children.values()) child.kill(signal);
  };

  groups.forEach((group, index) => {
    const child = spawn(process.execPath, [START_SCRIPT], {
      env: nodeEnv(env, group, index),
      stdio: ["ignore", "pipe", "pipe"],
      // A process group of its own: Ctrl-C reaches this launcher only, which passes it on
      // once (a node signalled twice would start stopping twice).
      detached: true,
    });
    const prefix = `[${group.name.padEnd(width)}]`;
    prefixLines(child.stdout!, prefix, process.stdout);
    prefixLines(child.stderr!, prefix, process.stderr);
    children.set(group.name, child);
    child.on("exit", (code, signal) => {
      children.delete(group.name);
      const how = signal ? `on ${signal}` : `with code ${code}`;
      if (!stopping) {
        say(`the ${group.name} node stopped ${how}; stopping the others`);
        exitCode = 1;
        stopAll("SIGTERM");
      } else {
        say(`the ${group.name} node stopped ${how}`);
        if (code) exitCode = 1;
      }
      if (!children.size) process.exit(exitCode);
    });
  });

  // If this launcher ends first (an error), its nodes do not outlive it.
  process.on("exit", () => {
    for (const child of children.values()) child.kill("SIGTERM");
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => {
      if (stopping) return;
      say(`${signal}: stopping ${children.size} node(s)`);
      stopAll(signal);
    });

  const where = groups.some((g) => g.services.includes("api"))
    ? `; the API will answer on http://127.0.0.1:${config.port}/api/v1`
    : "";
  say(
    `started ${groups.map((g) => `${g.name} (${g.services.join(",")})`).join(", ")} over ${config.transporter}${where}`,
  );
}

try {
  main();
} catch (err) {
  console.error(`[cluster] ${(err as Error).message}`);
  process.exit(1);
}
