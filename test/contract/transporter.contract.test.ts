import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Context, Errors, ServiceBroker, ServiceSchema } from "moleculer";
import { buildBrokerOptions } from "../../lib/broker";
import { loadConfig } from "../../lib/config";
import { currentRequestContext } from "../../lib/observability/request-context";
import { realServersFor, servers, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The TRANSPORTER setting: with a URL, brokers built by buildBrokerOptions form
 * one cluster (calls, request ids and events cross nodes, and a stopped node's
 * services go away); unset, a broker is a node on its own.
 */

interface Seen {
  handledOn: string;
  callerNodeID: string | undefined;
  requestID: string | null | undefined;
  contextRequestId: string | undefined;
  meta: Record<string, unknown>;
}

interface Received {
  on: string;
  from: string | undefined;
  type: string | null | undefined;
  params: unknown;
}

/** The service node A runs; node B runs only a listener. */
function echoService(received: Received[]): ServiceSchema {
  return {
    name: "echo",
    actions: {
      whoami(ctx: Context<{ n: number }, Record<string, unknown>>): Seen {
        return {
          handledOn: ctx.broker.nodeID,
          callerNodeID: ctx.nodeID ?? undefined,
          requestID: ctx.requestID,
          contextRequestId: currentRequestContext()?.requestId,
          meta: { ...ctx.meta },
        };
      },
    },
    events: {
      "contract.ping"(ctx: Context) {
        received.push(receipt(ctx));
      },
    },
  };
}

function listenerService(received: Received[]): ServiceSchema {
  return {
    name: "listener",
    events: {
      "contract.ping"(ctx: Context) {
        received.push(receipt(ctx));
      },
    },
  };
}

const receipt = (ctx: Context): Received => ({
  on: ctx.broker.nodeID,
  from: ctx.nodeID ?? undefined,
  type: ctx.eventType,
  params: ctx.params,
});

const transporters = realServersFor("nats", "redis");

if (transporters.length)
  describe.each(transporters)("transporter contract (%s)", (transporter) => {
    const url = servers[transporter]!;
    let dataDir: string;
    let nodeA: ServiceBroker;
    let nodeB: ServiceBroker;
    let received: Received[];

    /** A broker built the way nodes are, in this test's own namespace. */
    function node(name: string, namespace: string): ServiceBroker {
      const config = loadConfig({
        TRANSPORTER: url,
        LOG_LEVEL: "warn",
        SQLITE_STORAGE: ":memory:",
        DATA_DIR: dataDir,
        NODE_ID: uniqueName(name),
      });
      return new ServiceBroker(buildBrokerOptions(config, { namespace }));
    }

    beforeEach(async () => {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "transporter-contract-"));
      received = [];
      // A namespace per test: nodes of other tests or runs on the same server never meet these.
      const namespace = uniqueName("ns");
      nodeA = node("a", namespace);
      nodeB = node("b", namespace);
      nodeA.createService(echoService(received));
      nodeB.createService(listenerService(received));
      // B joins a running A: A answers B's discovery with its services at once
      // (started together, B would learn them from A's INFO, debounced by 1 s).
      await nodeA.start();
      await nodeB.start();
      await nodeB.waitForServices("echo", 5000, 20);
    });

    afterEach(async () => {
      await Promise.allSettled([nodeA, nodeB].map((b) => (b.started ? b.stop() : undefined)));
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it("uses the configured transporter", () => {
      expect(nodeA.transit).toBeDefined();
      expect(nodeA.transit!.connected).toBe(true);
      expect(nodeA.nodeID).not.toBe(nodeB.nodeID);
    });

    it("calls an action on the other node, carrying the caller's requestID and meta", async () => {
      const requestID = uniqueName("req");
      const seen = await nodeB.call<Seen, { n: number }>(
        "echo.whoami",
        { n: 1 },
        { requestID, meta: { correlationId: "corr-1" } },
      );
      expect(seen).toEqual({
        handledOn: nodeA.nodeID,
        callerNodeID: nodeB.nodeID,
        requestID,
        contextRequestId: requestID,
        meta: { correlationId: "corr-1" },
      });
    });

    it("delivers a broadcast event to every node, the other one included", async () => {
      const id = uniqueName("evt");
      await nodeB.broadcast("contract.ping", { id });
      const byNode = await waitFor(() => (received.length >= 2 ? received : undefined));
      expect(byNode).toHaveLength(2);
      expect(byNode.find((r) => r.on === nodeA.nodeID)).toEqual({
        on: nodeA.nodeID,
        from: nodeB.nodeID,
        type: "broadcast",
        params: { id },
      });
      expect(byNode.find((r) => r.on === nodeB.nodeID)?.params).toEqual({ id });
    });

    it("fails a call to a stopped node's service at once instead of hanging", async () => {
      await nodeA.stop();
      const started = Date.now();
      const err = await nodeB.call("echo.whoami", { n: 2 }).then(
        () => undefined,
        (e: Error) => e,
      );
      // Well under the broker's 10 s request timeout (and its retries).
      expect(Date.now() - started).toBeLessThan(3000);
      expect(err).toBeInstanceOf(Errors.MoleculerError);
      expect(["ServiceNotFoundError", "ServiceNotAvailableError"]).toContain(err!.name);
    });
  });

describe("transporter contract (TRANSPORTER unset)", () => {
  let dataDir: string;
  let broker: ServiceBroker;

  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "transporter-contract-"));
    const config = loadConfig({
      LOG_LEVEL: "warn",
      SQLITE_STORAGE: ":memory:",
      DATA_DIR: dataDir,
      NODE_ID: uniqueName("solo"),
    });
    const options = buildBrokerOptions(config, { namespace: uniqueName("ns") });
    expect(options.transporter).toBeNull();
    broker = new ServiceBroker(options);
    broker.createService(echoService([]));
    await broker.start();
  });

  afterEach(async () => {
    await broker.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("runs a single node: no transit, and calls are handled locally", async () => {
    expect(broker.transit).toBeUndefined();
    const seen = await broker.call<Seen, { n: number }>("echo.whoami", { n: 1 });
    expect(seen.handledOn).toBe(broker.nodeID);
    expect(seen.callerNodeID).toBe(broker.nodeID);
  });
});
