import { ServiceBroker, ServiceSchema } from "moleculer";
import { buildBrokerOptions } from "../../lib/broker";
import { Config, loadConfig } from "../../lib/config";
import { deleteChannels } from "../../lib/infra/channels/cleanup";
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
  if (adapter !== "embedded") await deleteChannels(servers[adapter]!, prefix);
}
