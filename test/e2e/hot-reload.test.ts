import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { buildBrokerOptions } from "../../lib/broker";
import { loadConfig } from "../../lib/config";
import { ASYNC_CONTEXT_FRAME } from "../../lib/runtime/node-flags";
import { realServersFor, servers, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * `npm run dev`: moleculer-runner with --hot over the TypeScript sources
 * (ts-node with SWC). A service file edited while the node runs is reloaded
 * in the same process, and its actions answer the new way. The node runs a
 * small TypeScript service written by the test, with the project's
 * moleculer.config.ts, and is called from a broker joined to it over NATS.
 */
const nats = realServersFor("nats");

const ROOT = path.resolve(__dirname, "../..");
const NODE = path.join(ROOT, "node_modules/.bin/node");
const RUNNER = path.join(ROOT, "node_modules/moleculer/bin/moleculer-runner.js");

interface Greeting {
  text: string;
  pid: number;
}

/** A TypeScript service whose `greeter.greet` answers `text` and the process id. */
function serviceSource(text: string): string {
  return `import type { ServiceSchema } from "moleculer";

const greeting: string = ${JSON.stringify(text)};

const GreeterService: ServiceSchema = {
  name: "greeter",
  actions: {
    greet(): { text: string; pid: number } {
      return { text: greeting, pid: process.pid };
    },
  },
};

export default GreeterService;
`;
}

if (nats.length)
  describe("npm run dev: hot reload", () => {
    const namespace = uniqueName("hot");
    let dir: string;
    let file: string;
    let node: ChildProcess;
    let output = "";
    let client: ServiceBroker;

    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "commerce-hot-"));
      file = path.join(dir, "greeter.service.ts");
      fs.writeFileSync(file, serviceSource("Hello from the first version"));
      // As `npm run dev` starts it, on the test's service file instead of services/**.
      node = spawn(
        NODE,
        [
          ASYNC_CONTEXT_FRAME,
          "-r",
          "ts-node/register",
          RUNNER,
          "--hot",
          "--config",
          "moleculer.config.ts",
          file,
        ],
        {
          cwd: ROOT,
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            NODE_ENV: "development",
            LOG_LEVEL: "info",
            DATA_DIR: dir,
            TRANSPORTER: servers.nats!,
            // moleculer-runner takes broker options from env: a namespace of this test's own.
            NAMESPACE: namespace,
          },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      node.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      node.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      // Calls made while the service reloads may find it gone for a moment: not worth a warning.
      const config = loadConfig({ LOG_LEVEL: "error", TRANSPORTER: servers.nats! });
      client = new ServiceBroker(
        buildBrokerOptions(config, { namespace, nodeID: uniqueName("client") }),
      );
      await client.start();
    }, 30_000);

    afterAll(async () => {
      await client?.stop();
      if (node && node.exitCode === null) {
        const exited = new Promise((resolve) => node.once("exit", resolve));
        node.kill("SIGTERM");
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const greet = () => client.call<Greeting>("greeter.greet");

    it("reloads an edited service in the same process: the action answers the new way", async () => {
      await client.waitForServices("greeter", 20_000).catch((err: Error) => {
        throw new Error(`${err.message}\nnode output:\n${output}`);
      });
      expect(await greet()).toEqual({ text: "Hello from the first version", pid: node.pid });

      // The runner starts watching a moment after the node is up: edit until the edit is seen.
      let edits = 0;
      const second = await waitFor(
        async () => {
          if (edits++ % 10 === 0) fs.writeFileSync(file, serviceSource("Hello after the edit"));
          const answer = await greet();
          return answer.text === "Hello after the edit" ? answer : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 200 },
      ).catch((err) => {
        throw new Error(`${(err as Error).message}\nnode output:\n${output}`);
      });
      expect(second.pid).toBe(node.pid);
      expect(node.exitCode).toBeNull();
      expect(output).toContain("greeter.service.ts' file is changed");
    }, 45_000);
  });
