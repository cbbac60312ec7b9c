import type { Config } from "../../config";

/** Names the channels adapter CHANNELS_URL selects, for logs and readiness. */
export function describeChannels(config: Config): {
  port: string;
  adapter: string;
  target: string;
} {
  const url = config.channelsUrl;
  if (!url) return { port: "channels", adapter: "in-process", target: "in-process" };
  const scheme = url.split(":")[0];
  const adapter = scheme === "rediss" ? "redis" : scheme === "tls" ? "nats" : scheme;
  return { port: "channels", adapter, target: url.replace(/\/\/[^@/]*@/, "//***@") };
}
