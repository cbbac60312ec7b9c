import { generateKeyPairSync, randomBytes } from "node:crypto";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { Server } from "node:http";
import { BrokerOptions, ServiceBroker, ServiceSchema } from "moleculer";
import { buildBrokerOptions } from "../../lib/broker";
import { loadConfig } from "../../lib/config";
import { NODE_GROUPS, NodeGroupName } from "../../lib/ops/node-groups";
import { createApiService, DOMAIN_SERVICES } from "../../services/api/api.service";
import CartService from "../../services/cart/cart.service";
import CatalogService from "../../services/catalog/catalog.service";
import InventoryService from "../../services/inventory/inventory.service";
import NotificationsService from "../../services/notifications/notifications.service";
import DeadLettersService from "../../services/ops/dead-letters.service";
import OrdersService from "../../services/orders/orders.service";
import PaymentsService from "../../services/payments/payments.service";
import SearchService from "../../services/search/search.service";
import UsersService from "../../services/users/users.service";
import { cleanUpChannels } from "./channels";
import { Platform, send, withRealServers } from "./platform";
import { servers, uniqueName } from "./servers";
import { waitFor } from "./wait";

/**
 * The split topology of `npm run start:cluster` (lib/ops/node-groups.ts),
 * one ServiceBroker per node group, each with only its group's services,
 * in the test process. The brokers share nothing in memory: they talk
 * through the NATS transporter (a namespace of their own) and NATS JetStream
 * channels (a prefix of their own), like separate processes. Each node has
 * its own Infrastructure — SQLite files per service under one temp DATA_DIR,
 * in-process key-value and queues — unless `real` gives MariaDB and Redis,
 * which they then share as deployed nodes do. The payments node runs the
 * sandbox provider, whose webhooks go to the gateway node's port.
 *
 *   const cluster = await startSplitCluster({ adminEmail, adminPassword });
 *   await cluster.gateway.request("GET", "/health/ready");
 *   cluster.node("catalog")   // a node's broker, e.g. for infrastructureOf()
 *   await cluster.stop();
 */
export interface SplitClusterOptions {
  admin: { email: string; password: string };
  /** MariaDB + Redis shared by every node (withRealServers); unset: embedded adapters per node. */
  real?: boolean;
  /** Configuration env vars for every node, on top of the defaults. */
  env?: Record<string, string>;
}

export interface SplitCluster {
  /** The gateway node as a Platform: HTTP requests to its /api/v1. */
  gateway: Platform;
  node(group: NodeGroupName): ServiceBroker;
  /** The env every node got (what an operator node joining the cluster uses too). */
  env: Record<string, string>;
  /** The transporter namespace of this cluster (brokers joining it need it). */
  namespace: string;
  stop(): Promise<void>;
}

const SCHEMAS: Record<string, () => ServiceSchema> = {
  api: () => createApiService() as unknown as ServiceSchema,
  users: () => UsersService,
  ops: () => DeadLettersService as unknown as ServiceSchema,
  catalog: () => CatalogService,
  inventory: () => InventoryService,
  search: () => SearchService,
  cart: () => CartService,
  orders: () => OrdersService,
  payments: () => PaymentsService,
  notifications: () => NotificationsService,
};

const START_TIMEOUT_MS = 30_000;

export async function startSplitCluster(options: SplitClusterOptions): Promise<SplitCluster> {
  if (!servers.nats) throw new Error("startSplitCluster needs TEST_NATS_URL");
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "commerce-cluster-"));
  const namespace = uniqueName("ns");
  const channelsPrefix = uniqueName("cluster");
  const real = options.real ? withRealServers("mysql", "redis") : undefined;
  const env: Record<string, string> = {
    NODE_ENV: "test",
    LOG_LEVEL: "warn",
    HOST: "127.0.0.1",
    PORT: "0",
    DATA_DIR: dataDir,
    JWT_PRIVATE_KEY: generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString(),
    MESSAGE_SEALING_KEY: randomBytes(32).toString("hex"),
    PAYMENT_GATEWAY_API_KEY: `sk_test_${randomBytes(12).toString("hex")}`,
    PAYMENT_WEBHOOK_SECRET: `whsec_${randomBytes(12).toString("hex")}`,
    TRANSPORTER: servers.nats,
    CHANNELS_URL: servers.nats,
    CHANNELS_PREFIX: channelsPrefix,
    ADMIN_EMAIL: options.admin.email,
    ADMIN_PASSWORD: options.admin.password,
    RATE_LIMIT_MAX: "0",
    AUTH_RATE_LIMIT_MAX: "0",
    ...real?.env,
    ...options.env,
  };
  const nodes = new Map<NodeGroupName, ServiceBroker>();

  function createNode(group: NodeGroupName, extraEnv: Record<string, string> = {}): ServiceBroker {
    const services = NODE_GROUPS.find((g) => g.name === group)!.services;
    const config = loadConfig({ ...env, ...extraEnv });
    const extra: Partial<BrokerOptions> = { namespace, nodeID: `${group}-${uniqueName("node")}` };
    const broker = new ServiceBroker(buildBrokerOptions(config, extra));
    for (const dir of services) broker.createService(SCHEMAS[dir]());
    nodes.set(group, broker);
    return broker;
  }

  async function stopAll(): Promise<void> {
    await Promise.allSettled([...nodes.values()].map((broker) => broker.stop()));
    await cleanUpChannels("nats", channelsPrefix).catch(() => undefined);
    await real?.cleanup();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }

  try {
    // The gateway first: the sandbox provider on the payments node needs its port for webhooks.
    const gatewayBroker = createNode("gateway");
    await gatewayBroker.start();
    const api = gatewayBroker.getLocalService("api") as unknown as { server: Server };
    const { port } = api.server.address() as AddressInfo;
    const webhookUrl = `http://127.0.0.1:${port}/api/v1/payments/webhooks/sandbox`;
    const others = NODE_GROUPS.map((g) => g.name).filter((name) => name !== "gateway");
    await Promise.all(
      others.map((group) =>
        createNode(group, group === "payments" ? { PAYMENT_WEBHOOK_URL: webhookUrl } : {}).start(),
      ),
    );
    // Up when the gateway sees every service over the transporter and routes the domain ones
    // (moleculer-web regenerates its routes a moment after the registry changes).
    await gatewayBroker.waitForServices([...DOMAIN_SERVICES, "deadletters"], START_TIMEOUT_MS);
    const routes = api as unknown as { aliases?: { action: string | null }[] };
    await waitFor(
      () =>
        DOMAIN_SERVICES.every((service) =>
          routes.aliases?.some((alias) => alias.action?.startsWith(`${service}.`)),
        ),
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 50 },
    );

    const origin = `http://127.0.0.1:${port}`;
    const gateway: Platform = {
      broker: gatewayBroker,
      origin,
      baseUrl: `${origin}/api/v1`,
      request: (method, urlPath, opts) =>
        send(/^https?:\/\//.test(urlPath) ? urlPath : `${origin}/api/v1${urlPath}`, method, opts),
      stop: stopAll,
    };
    return {
      gateway,
      env,
      namespace,
      node(group) {
        const broker = nodes.get(group);
        if (!broker) throw new Error(`no ${group} node`);
        return broker;
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
