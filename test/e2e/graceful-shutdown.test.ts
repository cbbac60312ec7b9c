import { ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { waitFor } from "../helpers/wait";

/**
 * SIGTERM, as Kubernetes or Compose sends it to a node: a real node
 * process (moleculer-runner over the TypeScript sources, as `npm run dev`
 * starts it, with the users service and the gateway) is asked to stop while
 * a request is still uploading its body. The request gets its answer, new
 * connections are refused from the moment the signal arrives, and the
 * process exits 0 once it has drained.
 */
const ROOT = path.resolve(__dirname, "../..");

interface NodeProcess {
  child: ChildProcess;
  port: number;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function startNode(dataDir: string): Promise<NodeProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      "-r",
      "ts-node/register",
      "node_modules/moleculer/bin/moleculer-runner.js",
      "--config",
      "moleculer.config.ts",
      "services/users/users.service.ts",
      "services/api/api.service.ts",
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: "test",
        DATA_DIR: dataDir,
        PORT: String(port),
        HOST: "127.0.0.1",
        LOG_LEVEL: "info",
        LOG_FORMAT: "text",
        // Embedded adapters only, whatever the shell says.
        MYSQL_URL: "",
        REDIS_URL: "",
        CHANNELS_URL: "",
        TRANSPORTER: "",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const node = { child, port, output: () => output, exited };
  // Up once every service started (readiness would wait for the domain services not run here).
  await waitFor(
    async () =>
      output.includes("started successfully") &&
      (await fetch(`http://127.0.0.1:${port}/api/v1/health`)).status === 200,
    { timeoutMs: 15_000, intervalMs: 100 },
  ).catch((err: Error) => {
    child.kill("SIGKILL");
    throw new Error(`${err.message}\nnode output:\n${output}`);
  });
  return node;
}

/** A request whose body is sent in two halves: it is in flight until finish() is called. */
function slowRequest(port: number, urlPath: string, body: object) {
  const payload = Buffer.from(JSON.stringify(body));
  const half = Math.floor(payload.length / 2);
  const req = http.request({
    host: "127.0.0.1",
    port,
    method: "POST",
    path: urlPath,
    headers: { "content-type": "application/json", "content-length": payload.length },
  });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.once("error", reject);
    req.once("response", (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
  });
  req.write(payload.subarray(0, half));
  return { response, finish: () => req.end(payload.subarray(half)) };
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED"));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("graceful shutdown on SIGTERM", () => {
  let dataDir: string;
  let node: NodeProcess | undefined;

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "commerce-drain-"));
  });

  afterEach(() => {
    if (node && node.child.exitCode === null) node.child.kill("SIGKILL");
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("finishes the request in flight, refuses new connections and exits 0", async () => {
    node = await startNode(dataDir);
    const email = `drain_${randomUUID()}@example.com`;
    const inFlight = slowRequest(node.port, "/api/v1/auth/register", {
      email,
      password: "correct horse battery staple",
      name: "Drain Test",
    });
    // Let the gateway take the request (headers parsed, action started) before the signal.
    await sleep(500);

    node.child.kill("SIGTERM");
    // The node waits for the request it holds …
    await waitFor(() => node!.output().includes("Waiting for 1 running context(s)"), {
      timeoutMs: 5000,
    });
    // … and takes no new ones meanwhile.
    expect(await connectionRefused(node.port)).toBe(true);

    inFlight.finish();
    const answer = await inFlight.response;
    expect(answer.status).toBe(201);
    expect(JSON.parse(answer.body)).toMatchObject({ email });

    const exit = await Promise.race([
      node.exited,
      sleep(8000).then(() => ({ code: "still running after 8 s", signal: null })),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(node.output()).toContain("ServiceBroker is stopped");
  }, 25_000);
});
