import type { ServiceSchema } from "moleculer";
import { createSandboxProvider, SandboxProvider } from "../../services/payments/sandbox/server";
import { cleanUpChannels } from "../helpers/channels";
import { Platform, startPlatform, withRealServers } from "../helpers/platform";
import { servers, uniqueName } from "../helpers/servers";
import { sandboxLedger, SandboxLedger } from "./invariants";
import { Api, httpApi } from "./shop";

/**
 * One node with the shop's services and the gateway, on MariaDB and Redis
 * (key-value, cache, BullMQ queues), for the in-process fault tests, with
 * the sandbox payment provider beside it in the test process (its books are
 * what the tests count charges in; its webhooks go to this node's gateway).
 * Channels are Redis Streams unless `channels` says in-process.
 */
export interface ShopNodeOptions {
  services: ServiceSchema[];
  /** Durable channels on Redis Streams (default) or in process. */
  channels?: "redis" | "in-process";
  /** Configuration on top of the node's. */
  env?: Record<string, string>;
  /**
   * Names every Redis connection of the node after its key prefix (REDIS_URL's
   * `connectionName`), so a test can find them in CLIENT LIST.
   */
  nameRedisConnections?: boolean;
}

export interface ShopNode {
  platform: Platform;
  api: Api;
  sandbox: SandboxProvider;
  ledger: SandboxLedger;
  /** Prefix of every Redis key of this node (and of its connections' names when named). */
  redisPrefix: string;
  stop(): Promise<void>;
}

const API_KEY = "sk_test_fault_shop";
const WEBHOOK_SECRET = "whsec_fault_shop";

export async function startShopNode(options: ShopNodeOptions): Promise<ShopNode> {
  const real = withRealServers("mysql", "redis");
  const channelsPrefix = uniqueName("faults");
  const onRedisStreams = (options.channels ?? "redis") === "redis";
  const sandbox = createSandboxProvider({
    apiKey: API_KEY,
    webhookSecret: WEBHOOK_SECRET,
    asyncDelayMs: 1000,
  });
  const sandboxUrl = await sandbox.listen(0);
  let platform: Platform;
  try {
    platform = await startPlatform({
      services: options.services,
      env: {
        ...real.env,
        ...(options.nameRedisConnections
          ? {
              REDIS_URL: `${servers.redis}?connectionName=${encodeURIComponent(real.env.REDIS_PREFIX)}`,
            }
          : {}),
        ...(onRedisStreams ? { CHANNELS_URL: servers.redis! } : {}),
        CHANNELS_PREFIX: channelsPrefix,
        CHANNELS_ACK_WAIT_MS: "2000",
        CHANNELS_POLL_INTERVAL_MS: "100",
        PAYMENT_GATEWAY_URL: sandboxUrl,
        PAYMENT_GATEWAY_API_KEY: API_KEY,
        PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
        RATE_LIMIT_MAX: "0",
        AUTH_RATE_LIMIT_MAX: "0",
        // The faults make every retry and dead letter warn, hundreds of lines: errors only.
        LOG_LEVEL: "error",
        ...options.env,
      },
    });
  } catch (err) {
    await sandbox.close();
    await real.cleanup();
    throw err;
  }
  const stop = async () => {
    await platform.stop();
    await sandbox.close();
    await real.cleanup();
    if (onRedisStreams) await cleanUpChannels("redis", channelsPrefix);
  };
  // Like any provider, the sandbox learns where to send webhooks once the gateway listens.
  const registered = await fetch(`${sandboxUrl}/v1/webhook_endpoints`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ url: `${platform.baseUrl}/payments/webhooks/sandbox` }),
  });
  if (!registered.ok) {
    await stop();
    throw new Error(`Webhook endpoint registration answered ${registered.status}`);
  }

  return {
    platform,
    api: httpApi(platform.baseUrl),
    sandbox,
    ledger: sandboxLedger(sandboxUrl, API_KEY),
    redisPrefix: real.env.REDIS_PREFIX,
    stop,
  };
}
