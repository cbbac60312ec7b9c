import { ServiceBroker, ServiceSchema } from "moleculer";
import { buildBrokerOptions } from "../../lib/broker";
import { Config, loadConfig } from "../../lib/config";
import { servers, uniqueName } from "./servers";

/** Channel adapters a suite can run on: "embedded" is the in-process adapter. */
export type ChannelsAdapterName = "embedded" | "redis" | "nats";

/** Env keys that select a channel adapter with fast redelivery, isolated under `prefix`. */
export function channelsEnv(adapter: ChannelsAdapterName, prefix: string): Record<string, string> {
  const env: Record<string, string> = {
    CHANNELS_PREFIX: prefix,
    // Short enough for a test to see retries and dead-lettering in about a second.
    CHANNELS_ACK_WAIT_MS: "250",
    CHANNELS_POLL_INTERVAL_MS: "50",
  };
  if (adapter === "redis") env.CHANNELS_URL = servers.redis!;
  if (adapter === "nats") env.CHANNELS_URL = servers.nats!;
  return env;
}

/** A started broker built the way nodes are (buildBrokerOptions), with the given services. */
export async function startBroker(
  env: Record<string, string>,
  /** Service schemas (typed with their own `this`, hence `object`). */
  services: object[],
  overrides: Partial<Config> = {},
): Promise<ServiceBroker> {
  const config = loadConfig({ LOG_LEVEL: "warn", NODE_ID: uniqueName("node"), ...env }, overrides);
  const broker = new ServiceBroker(buildBrokerOptions(config));
  for (const schema of services) broker.createService(schema as ServiceSchema);
  await broker.start();
  return broker;
}

/** Removes what a suite left on the channel server under its prefix (streams, consumer groups). */
export async function cleanUpChannels(adapter: ChannelsAdapterName, prefix: string): Promise<void> {
  if (adapter === "redis") {
    const { default: Redis } = await import("ioredis");
    const client = new Redis(servers.redis!);
    try {
      let cursor = "0";
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}.*`, "COUNT", 500);
        cursor = next;
        if (keys.length) await client.del(...keys);
      } while (cursor !== "0");
    } finally {
      client.disconnect();
    }
  }
  if (adapter === "nats") {
    const { connect } = await import("nats");
    const nc = await connect({ servers: new URL(servers.nats!).host });
    try {
      const jsm = await nc.jetstreamManager();
      for await (const stream of jsm.streams.list()) {
        if (stream.config.name.startsWith(`${prefix}_`))
          await jsm.streams.delete(stream.config.name);
      }
    } finally {
      await nc.close();
    }
  }
}
