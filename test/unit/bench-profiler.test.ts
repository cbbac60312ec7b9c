import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { ScenarioProfiler } from "../../bench/profiler";

/**
 * The bench's per-scenario profiles must hold what the node ran while the
 * scenario was measured, and nothing from before: a node runs one function,
 * then another once told to, and the profile taken around the second holds
 * it alone.
 */
describe("ScenarioProfiler", () => {
  let child: ChildProcess | undefined;

  afterEach(() => {
    child?.kill("SIGKILL");
    child = undefined;
  });

  it("profiles the window between start and stop, not what ran before", async () => {
    const port = await freePort();
    const program = `
      function spinBeforeTheWindow() { const end = Date.now() + 5; while (Date.now() < end); }
      function spinInTheWindow() { const end = Date.now() + 5; while (Date.now() < end); }
      let work = spinBeforeTheWindow;
      process.on("SIGUSR2", () => { work = spinInTheWindow; process.stdout.write("switched\\n"); });
      setInterval(() => work(), 10);
    `;
    // Interpreted only: compiled code could inline the spins into their caller and hide their names.
    child = spawn(process.execPath, ["--jitless", `--inspect=127.0.0.1:${port}`, "-e", program], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-profiles-"));
    const profiler = await retry(() => ScenarioProfiler.connect(port, dir));
    try {
      await sleep(300); // the first function runs, unprofiled
      const switched = new Promise((resolve) => child!.stdout!.once("data", resolve));
      child.kill("SIGUSR2");
      await switched; // the handler ran between two calls: the first function no longer runs
      await profiler.start();
      await sleep(500);
      const file = await profiler.stop("window");

      expect(path.dirname(file)).toBe(dir);
      expect(path.basename(file)).toMatch(/-window\.cpuprofile$/);
      const profile = JSON.parse(fs.readFileSync(file, "utf8")) as {
        nodes: { callFrame: { functionName: string } }[];
        samples: number[];
      };
      const names = new Set(profile.nodes.map((n) => n.callFrame.functionName));
      expect(profile.samples.length).toBeGreaterThan(100);
      expect(names.has("spinInTheWindow")).toBe(true);
      expect(names.has("spinBeforeTheWindow")).toBe(false);
    } finally {
      profiler.close();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/** The inspector listens a moment after the process starts. */
async function retry<T>(attempt: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
