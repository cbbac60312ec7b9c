/**
 * `npm run bench`: load scenarios against a node, with a baseline route
 * measured in the same run so figures can be compared across machines.
 *
 *   npm run bench                          # build, seed 10,000 products into a temp DATA_DIR, start a node, measure
 *   npm run bench -- --url http://host:3000 # measure a running node (seeded, rate limits off)
 *   options: --duration 10 --connections 50 --products 10000 --only search,product-page,checkout
 *            --shoppers 20 (checkout, product-page-selling: concurrent customers placing orders)
 *            --cpu-prof (a V8 CPU profile of each scenario's measured phase in bench/profiles/;
 *                        with --split, of each node's whole life)
 *            --node-arg=<flag> (repeatable: a flag for the node it starts, e.g. --node-arg=--max-old-space-size=256)
 *            --split (the node groups of `npm run start:cluster`, one process each, over a
 *                     real transporter: NATS on this machine unless TRANSPORTER says otherwise)
 *
 * The node it starts gets the environment of this process (so MYSQL_URL,
 * REDIS_URL, CHANNELS_URL… select real servers) plus RATE_LIMIT_MAX=0; a
 * split cluster gets a NAMESPACE and CHANNELS_PREFIX of its own, and the
 * node flags through NODE_OPTIONS. Peak RSS is the sum of the processes'.
 * CPU per request (per order for checkout) is read from /proc for the node
 * and for the MariaDB, Redis and NATS servers on this machine (processes.ts).
 * After checkout it counts the notifications its orders caused that were not
 * sent yet, with an admin account it gives the node (notifications.ts).
 * Last, `product-page-selling` reads product pages while shoppers check out:
 * every order changes stock, and the pages must stay cached through it.
 * Results: a table on stdout and bench/results/<timestamp>.json.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { deleteChannels } from "../lib/infra/channels/cleanup";
import { measureCheckout } from "./checkout";
import { AdminAccount, NotificationBacklog, NotificationLog } from "./notifications";
import { cpuMsPer, CpuReading, readCpu, sampleRss } from "./processes";
import { ScenarioProfiler } from "./profiler";
import { Scenario, scenarios } from "./scenarios";

interface Options {
  url?: string;
  duration: number;
  connections: number;
  products: number;
  only?: string[];
  shoppers: number;
  /**
   * Write a V8 CPU profile of each scenario's measured phase into bench/profiles/
   * (open it in Chrome DevTools); a split cluster's nodes each write one of their whole life.
   */
  cpuProf: boolean;
  /** Extra flags for the node it starts (e.g. --node-arg=--max-old-space-size=256). */
  nodeArgs: string[];
  /** Start the split topology (scripts/cluster.ts) instead of the all-in-one node. */
  split: boolean;
}

interface Row {
  scenario: string;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  ratioToBaseline: number;
  /** CPU milliseconds per request (per order for checkout) of the node(s) it started. */
  nodeCpuMs?: number;
  /** The same for the database, cache and broker servers on this machine, and for each. */
  serversCpuMs?: number;
  serversCpuMsByName?: Record<string, number>;
  /** Checkout: the emails its orders caused that were not sent yet when the load ended. */
  notifications?: NotificationBacklog;
  /** product-page-selling: the orders per second confirmed while the pages were read. */
  checkoutPerSec?: number;
  note?: string;
}

const root = path.resolve(__dirname, "..");
const profilesDir = path.join(root, "bench/profiles");

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    duration: 10,
    connections: 50,
    products: 10_000,
    shoppers: 20,
    cpuProf: false,
    nodeArgs: [],
    split: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--url") opts.url = value;
    else if (flag === "--duration") opts.duration = Number(value);
    else if (flag === "--connections") opts.connections = Number(value);
    else if (flag === "--products") opts.products = Number(value);
    else if (flag === "--only") opts.only = value.split(",");
    else if (flag === "--shoppers") opts.shoppers = Number(value);
    else if (flag.startsWith("--node-arg=")) {
      opts.nodeArgs.push(flag.slice("--node-arg=".length));
      continue;
    } else if (flag === "--cpu-prof") {
      opts.cpuProf = true;
      continue;
    } else if (flag === "--split") {
      opts.split = true;
      continue;
    } else continue;
    i++;
  }
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const node = opts.url ? undefined : await startNode(opts);
  const baseUrl = opts.url ?? node!.url;
  const nodePid = node?.process.pid;
  const rssSampler = nodePid ? sampleRss(nodePid) : undefined;
  let profiler: ScenarioProfiler | undefined;
  try {
    if (node?.inspectPort) profiler = await ScenarioProfiler.connect(node.inspectPort, profilesDir);
    else if (opts.cpuProf && opts.url)
      process.stderr.write("--cpu-prof profiles a node the bench starts, not one at --url\n");
    const selected = scenarios.filter(
      (s) => s.name === "baseline" || !opts.only || opts.only.includes(s.name),
    );
    const rows: Row[] = [];
    let baseline = 0;
    for (const scenario of selected) {
      const requests = await scenario.prepare(baseUrl);
      await measure(baseUrl, requests, 2, opts.connections); // warm caches and JIT
      await profiler?.start();
      const cpuBefore = readCpu(nodePid);
      const result = await measure(baseUrl, requests, opts.duration, opts.connections);
      const cpu = cpuMsPer(cpuBefore, readCpu(nodePid), result.requests.total);
      const rps = result.requests.average;
      if (scenario.name === "baseline") baseline = rps;
      rows.push({
        scenario: scenario.name,
        requestsPerSec: Math.round(rps),
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        errors: result.errors + result.timeouts + result.non2xx,
        ratioToBaseline: baseline ? Number((rps / baseline).toFixed(2)) : 1,
        nodeCpuMs: cpu.nodeMs,
        serversCpuMs: cpu.serversMs,
        serversCpuMsByName: cpu.byServer,
        note: scenario.target,
      });
      process.stderr.write(`  ${scenario.name}: ${Math.round(rps)} req/s\n`);
      await writeProfile(profiler, scenario.name);
    }
    if (!opts.only || opts.only.includes("checkout"))
      rows.push(await checkoutRow(baseUrl, opts, { nodePid, profiler, admin: node?.admin }));
    if (!opts.only || opts.only.includes(SELLING))
      rows.push(await sellingRow(baseUrl, opts, baseline));
    report(rows, opts, rssSampler?.peakKib());
  } finally {
    profiler?.close();
    rssSampler?.stop();
    if (node) await stopNode(node.process);
    if (node?.channels) {
      const { url, prefix } = node.channels;
      const deleted = await deleteChannels(url, prefix).catch(() => false);
      if (!deleted)
        process.stderr.write(`left the channels under ${prefix} on ${new URL(url).host}\n`);
    }
  }
}

/** Orders per second reaching CONFIRMED; its latency is POST /orders → CONFIRMED, not one request. */
async function checkoutRow(
  baseUrl: string,
  opts: Options,
  {
    nodePid,
    profiler,
    admin,
  }: { nodePid?: number; profiler?: ScenarioProfiler; admin?: AdminAccount },
): Promise<Row> {
  // Only the node the bench starts has an admin account the bench knows.
  const notificationLog = admin ? await NotificationLog.open(baseUrl, admin) : undefined;
  let cpuBefore: CpuReading | undefined;
  let profiling: Promise<unknown> | undefined;
  const result = await measureCheckout(baseUrl, {
    durationSec: opts.duration,
    shoppers: opts.shoppers,
    // After the shoppers are registered: their password hashes are not checkout's work.
    onLoadStart: () => {
      profiling = profiler?.start();
      profiling?.catch(() => undefined); // its failure is thrown where it is awaited, after the load
      cpuBefore = readCpu(nodePid);
    },
  });
  const cpu = cpuBefore ? cpuMsPer(cpuBefore, readCpu(nodePid), result.placed) : {};
  const loadEnded = Date.now();
  const waitingAtEnd = await notificationLog?.waiting();
  process.stderr.write(
    `  checkout: ${result.confirmedPerSec} confirmed orders/s ` +
      `(${result.placed} placed, ${result.cancelled} cancelled, ${result.failed} failed)\n`,
  );
  await profiling;
  await writeProfile(profiler, "checkout");
  const notifications =
    waitingAtEnd === undefined
      ? undefined
      : await notificationLog!.drained(loadEnded, waitingAtEnd);
  return {
    scenario: "checkout",
    requestsPerSec: result.confirmedPerSec,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    errors: result.failed,
    ratioToBaseline: 0,
    nodeCpuMs: cpu.nodeMs,
    serversCpuMs: cpu.serversMs,
    serversCpuMsByName: cpu.byServer,
    notifications,
    note: `orders/s reaching CONFIRMED, ${opts.shoppers} shoppers; p50/p99 = POST /orders → CONFIRMED`,
  };
}

const SELLING = "product-page-selling";
/** Connections reading pages while the shoppers check out: a storefront's browsing, not a flood. */
const SELLING_CONNECTIONS = 10;

/**
 * Product pages (the product-page scenario's list) read while `--shoppers`
 * check out, both for `--duration` seconds from the moment the shoppers are
 * registered. Each order changes stock twice; the pages of the products
 * that did not sell must stay cached (decision 25).
 */
async function sellingRow(baseUrl: string, opts: Options, baseline: number): Promise<Row> {
  const pages = await scenarios.find((s) => s.name === "product-page")!.prepare(baseUrl);
  await measure(baseUrl, pages, 2, SELLING_CONNECTIONS); // warm caches and JIT
  let reading: ReturnType<typeof measure> | undefined;
  const checkout = await measureCheckout(baseUrl, {
    durationSec: opts.duration,
    shoppers: opts.shoppers,
    onLoadStart: () => {
      reading = measure(baseUrl, pages, opts.duration, SELLING_CONNECTIONS);
    },
  });
  const result = await reading!;
  const rps = result.requests.average;
  process.stderr.write(
    `  ${SELLING}: ${Math.round(rps)} req/s while ${checkout.confirmedPerSec} orders/s were confirmed\n`,
  );
  return {
    scenario: SELLING,
    requestsPerSec: Math.round(rps),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx + checkout.failed,
    ratioToBaseline: baseline ? Number((rps / baseline).toFixed(2)) : 1,
    checkoutPerSec: checkout.confirmedPerSec,
    note:
      `GET /products/:slug over 200 products, ${SELLING_CONNECTIONS} connections, while ` +
      `${opts.shoppers} shoppers checked out (${checkout.confirmedPerSec} orders/s confirmed)`,
  };
}

async function writeProfile(profiler: ScenarioProfiler | undefined, scenario: string) {
  if (!profiler) return;
  const file = await profiler.stop(scenario);
  process.stderr.write(`  ${scenario}: CPU profile in ${path.relative(root, file)}\n`);
}

/**
 * Every request takes the next entry of the scenario's list, whichever
 * connection sends it. (autocannon's own `requests` list is walked by each
 * connection from the start, so 50 connections would ask for the same item
 * at the same moment: a cold-cache stampede, not a realistic load.)
 */
function measure(
  url: string,
  requests: Scenario["requests"],
  duration: number,
  connections: number,
) {
  let next = 0;
  const rotating = {
    method: requests[0].method,
    path: requests[0].path,
    setupRequest: (req: autocannon.Request) => ({ ...req, ...requests[next++ % requests.length] }),
  };
  return autocannon({ url, connections, duration, requests: [rotating], pipelining: 1 });
}

interface StartedNode {
  url: string;
  process: ChildProcess;
  /** The loopback port of its inspector, when the bench profiles it (--cpu-prof). */
  inspectPort?: number;
  /** An admin account of the node, to read its notification log. */
  admin: AdminAccount;
  /** A split cluster's channels, under a prefix of this run's own: deleted after it. */
  channels?: { url: string; prefix: string };
}

async function startNode(opts: Options): Promise<StartedNode> {
  const { products, cpuProf, nodeArgs, split } = opts;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "commerce-bench-"));
  const port = 3900 + Math.floor(Math.random() * 90);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    PORT: String(port),
    RATE_LIMIT_MAX: "0",
    AUTH_RATE_LIMIT_MAX: "0",
    LOG_LEVEL: "warn",
  };
  // The node creates (or promotes) this admin at start: the bench reads the notification log with it.
  if (!env.ADMIN_EMAIL || !env.ADMIN_PASSWORD) {
    env.ADMIN_EMAIL = "bench-admin@example.com";
    env.ADMIN_PASSWORD = `bench-${randomBytes(12).toString("base64url")}`;
  }
  const admin = { email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD };
  let channels: StartedNode["channels"];
  if (split) {
    // Apart from any other cluster on the same NATS or Redis.
    const name = path.basename(dataDir).replace(/[^a-zA-Z0-9]/g, "");
    env.NAMESPACE ??= name;
    if (!env.CHANNELS_PREFIX) {
      env.CHANNELS_PREFIX = name;
      // Where scripts/cluster.ts puts the channels when CHANNELS_URL is not set.
      const url = env.CHANNELS_URL ?? env.TRANSPORTER ?? "nats://127.0.0.1:4222";
      channels = { url, prefix: name };
    }
  }
  process.stderr.write(`building and seeding ${products} products into ${dataDir}…\n`);
  execFileSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "inherit" });
  execFileSync("npm", ["run", "seed", "--silent", "--", "--products", String(products)], {
    cwd: root,
    env,
    stdio: "inherit",
  });
  // The all-in-one node is profiled scenario by scenario through its inspector (profiler.ts);
  // a split cluster's nodes each write a profile of their whole life when they exit.
  const inspectPort = cpuProf && !split ? port + 1000 : undefined;
  const profiling = !cpuProf
    ? []
    : inspectPort
      ? [`--inspect=127.0.0.1:${inspectPort}`]
      : ["--cpu-prof", `--cpu-prof-dir=${profilesDir}`];
  const flags = [...nodeArgs, ...profiling];
  // The cluster launcher starts its nodes itself: NODE_OPTIONS reaches every one of them.
  if (split && flags.length) env.NODE_OPTIONS = [env.NODE_OPTIONS, ...flags].join(" ").trim();
  const args = split
    ? [path.join(root, "dist/scripts/cluster.js")]
    : [...flags, path.join(root, "dist/bin/start.js")];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env,
    stdio: ["ignore", "inherit", "inherit"],
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(async () => {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new NodeExitedError(
          `the node exited (${child.exitCode ?? child.signalCode}) before it was ready`,
        );
      const ready = await fetch(`${url}/api/v1/health/ready`).catch(() => undefined);
      if (ready?.status !== 200) return false;
      const search = (await (await fetch(`${url}/api/v1/search?pageSize=1`)).json()) as {
        total?: number;
      };
      return (search.total ?? 0) > 0; // the embedded index is rebuilt at start
    }, 120_000);
  } catch (err) {
    // Left running, it would keep its port and hold the bench databases (the next run's DROP waits).
    await stopNode(child);
    throw err;
  }
  return { url, process: child, channels, inspectPort, admin };
}

class NodeExitedError extends Error {}

/** SIGTERM, then wait: the node drains and exits, which is also when a CPU profile is written. */
function stopNode(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const done = await check().catch((err: unknown) => {
      if (err instanceof NodeExitedError) throw err;
      return false;
    });
    if (done) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("the node did not become ready in time");
}

function report(rows: Row[], opts: Options, peakRssKib?: number): void {
  const header = [
    "scenario",
    "req/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "× baseline",
    "node CPU ms",
    "servers CPU ms",
  ];
  const lines = rows.map((r) => [
    r.scenario,
    String(r.requestsPerSec),
    String(r.p50Ms),
    String(r.p99Ms),
    String(r.errors),
    r.scenario === "checkout" ? "n/a" : r.ratioToBaseline.toFixed(2),
    r.nodeCpuMs === undefined ? "n/a" : r.nodeCpuMs.toFixed(2),
    r.serversCpuMs === undefined ? "n/a" : r.serversCpuMs.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  const out = [fmt(header), fmt(widths.map((w) => "-".repeat(w))), ...lines.map(fmt)];
  out.push(
    "CPU ms: per request (per order placed for checkout), of the node and of the MariaDB, Redis and NATS servers on this machine",
  );
  const selling = rows.find((r) => r.checkoutPerSec !== undefined);
  if (selling)
    out.push(
      `${SELLING}: the node confirmed ${selling.checkoutPerSec} orders/s while serving those pages`,
    );
  const backlog = rows.find((r) => r.notifications)?.notifications;
  if (backlog)
    out.push(
      `checkout emails: ${backlog.waitingAtEnd} not sent yet when the load ended, ` +
        (backlog.drainedAfterSec === undefined
          ? "some still waiting 120 s later"
          : `all sent ${backlog.drainedAfterSec} s later`),
    );
  // /proc counts in KiB; the target is in MB (10^6 bytes), so both are shown.
  const peakRssMib = peakRssKib ? Math.round(peakRssKib / 1024) : undefined;
  const peakRssMb = peakRssKib ? Math.round((peakRssKib * 1024) / 1e6) : undefined;
  if (peakRssKib)
    out.push(
      `${opts.split ? "cluster (all nodes)" : "node"} peak RSS: ${peakRssMb} MB (${peakRssMib} MiB)`,
    );
  process.stdout.write(`\n${out.join("\n")}\n`);
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  };
  const file = path.join(
    root,
    "bench/results",
    `${new Date().toISOString().replace(/[:.]/g, "-")}.json`,
  );
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    JSON.stringify(
      { date: new Date().toISOString(), machine, options: opts, peakRssMb, peakRssMib, rows },
      null,
      2,
    ),
  );
  process.stdout.write(`written to ${path.relative(root, file)}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
