import type { ConnectionOptions } from "node:tls";
import { Adapters, Middleware as ChannelsMiddleware } from "@moleculer/channels";
import type { Logger, Middleware, Service, ServiceBroker } from "moleculer";
import type { Config } from "../../config";
import { dlqTopic } from "../../messaging/topics";
import { kafkaTlsOptions, natsTlsOptions, redisConnectionOptions } from "../tls";
import { NatsChannelsAdapter, RedisChannelsAdapter } from "./durable-adapters";
import { InProcessAdapter } from "./in-process";
import { withoutPublishedBodies } from "./publish-log";

/**
 * Durable messaging port (ARCHITECTURE §2, §4): @moleculer/channels with the
 * adapter CHANNELS_URL names. Unset → in-process (one node only);
 * redis:// or rediss:// → Redis Streams; nats:// or tls:// → NATS JetStream;
 * kafka://host:9092[,host2:9092] → Kafka through kafkajs. TLS options come
 * from lib/infra/tls.ts (REDIS_TLS_*, NATS_TLS_CA_FILE, KAFKA_SSL_*), SASL
 * from the KAFKA_SASL_* keys.
 */

type AdapterInstance = InstanceType<typeof Adapters.Base>;

/** Options every adapter gets. */
function commonOptions(config: Config) {
  return {
    prefix: config.channelsPrefix,
    maxRetries: config.channelsMaxRetries,
    maxInFlight: 1,
    // The queue name is set per channel (<topic>.dlq), see withDeadLetterDefaults.
    deadLettering: { enabled: true, queueName: "FAILED_MESSAGES" },
  };
}

export function redisAdapterOptions(config: Config, url: string) {
  return {
    ...commonOptions(config),
    // Connection options rather than the URL: the library ignores every other option next to a URL.
    redis: {
      ...redisConnectionOptions(config, url),
      consumerOptions: {
        minIdleTime: config.channelsAckWaitMs,
        claimInterval: config.channelsPollIntervalMs,
        processingAttemptsInterval: config.channelsPollIntervalMs,
      },
    },
  };
}

export function natsAdapterOptions(config: Config, url: string) {
  const first = new URL(url.split(",")[0]);
  const connectionOptions: Record<string, string> = {};
  // The library keeps only host:port of each URL; credentials go in the options.
  if (first.username && first.password) {
    connectionOptions.user = decodeURIComponent(first.username);
    connectionOptions.pass = decodeURIComponent(first.password);
  } else if (first.username) {
    connectionOptions.token = decodeURIComponent(first.username);
  }
  const tls = natsTlsOptions(config, url);
  return {
    ...commonOptions(config),
    nats: {
      url,
      connectionOptions: tls ? { ...connectionOptions, tls } : connectionOptions,
      consumerOptions: {
        // Nanoseconds. Applies when the durable consumer is created.
        config: { ack_wait: config.channelsAckWaitMs * 1_000_000 },
      },
    },
  };
}

export interface KafkaOptions {
  brokers: string[];
  ssl?: ConnectionOptions;
  sasl?: {
    mechanism: "plain" | "scram-sha-256" | "scram-sha-512";
    username: string;
    password: string;
  };
}

/** kafka://a:9092,b:9092 (each entry may repeat the scheme) → kafkajs brokers, TLS and SASL. */
export function kafkaClientOptions(config: Config, url: string): KafkaOptions {
  const brokers = url
    .split(",")
    .map((entry) =>
      entry
        .trim()
        .replace(/^kafka:\/\//, "")
        .replace(/\/.*$/, ""),
    )
    .filter(Boolean);
  if (!brokers.length) throw new Error(`Kafka URL names no broker: ${url}`);
  const options: KafkaOptions = { brokers };
  const ssl = kafkaTlsOptions(config);
  if (ssl) options.ssl = ssl;
  if (config.kafkaSaslMechanism) {
    if (!config.kafkaSaslUsername || !config.kafkaSaslPassword)
      throw new Error("KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD");
    options.sasl = {
      mechanism: config.kafkaSaslMechanism,
      username: config.kafkaSaslUsername,
      password: config.kafkaSaslPassword,
    };
  }
  return options;
}

export function kafkaAdapterOptions(config: Config, url: string) {
  return { ...commonOptions(config), kafka: kafkaClientOptions(config, url) };
}

/** The adapter CHANNELS_URL selects (not connected yet). */
export function createChannelsAdapter(config: Config): AdapterInstance {
  const url = config.channelsUrl;
  if (!url) return new InProcessAdapter(commonOptions(config));
  const scheme = url.slice(0, url.indexOf(":"));
  switch (scheme) {
    case "redis":
    case "rediss":
      return new RedisChannelsAdapter(redisAdapterOptions(config, url));
    case "nats":
    case "tls":
      return new NatsChannelsAdapter(natsAdapterOptions(config, url));
    case "kafka":
      return new Adapters.Kafka(kafkaAdapterOptions(config, url) as never);
    default:
      throw new Error(
        `CHANNELS_URL: unsupported scheme "${scheme}" (kafka, redis, rediss, nats, tls)`,
      );
  }
}

const readiness = new WeakMap<ServiceBroker, { promise: Promise<void> }>();

/**
 * Resolves once the broker's channel adapter is connected and every channel
 * is subscribed (the broker's `started` flag comes earlier than that).
 */
export function channelsReady(broker: ServiceBroker, timeoutMs = 10_000): Promise<void> {
  const ready = readiness.get(broker);
  if (!ready) return Promise.reject(new Error("This broker has no channels middleware"));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("Channels not ready")), timeoutMs);
    timer.unref();
  });
  return Promise.race([ready.promise, timeout]).finally(() => clearTimeout(timer));
}

interface ChannelDefinitionLike {
  handler?: unknown;
  deadLettering?: { enabled?: boolean; queueName?: string };
}

/**
 * Every channel gets `<topic>.dlq` as dead-letter queue unless it names its
 * own, so no failed message lands in the library's shared FAILED_MESSAGES.
 */
function withDeadLetterDefaults(service: Service): void {
  const channels = (service.schema as { channels?: Record<string, unknown> }).channels;
  if (!channels || typeof channels !== "object") return;
  for (const [name, def] of Object.entries(channels)) {
    const chan: ChannelDefinitionLike =
      typeof def === "function" ? { handler: def } : (def as ChannelDefinitionLike);
    channels[name] = {
      ...chan,
      deadLettering: { enabled: true, queueName: dlqTopic(name), ...chan.deadLettering },
    };
  }
}

/** The @moleculer/channels middleware for this node, with `ctx` carried in headers. */
export function channelsMiddleware(config: Config): Middleware {
  const adapter = createChannelsAdapter(config);
  const channels = ChannelsMiddleware({
    adapter: adapter as never,
    context: true,
  } as never);
  let resolveReady = () => {};
  return {
    ...channels,
    created(broker: ServiceBroker) {
      const promise = new Promise<void>((resolve) => (resolveReady = resolve));
      readiness.set(broker, { promise });
      channels.created(broker);
      // The adapter has its logger now (init); published bodies stay out of it.
      const withLogger = adapter as unknown as { logger: Logger };
      withLogger.logger = withoutPublishedBodies(withLogger.logger);
    },
    serviceCreated(service: Service) {
      withDeadLetterDefaults(service);
      return channels.serviceCreated(service);
    },
    async started() {
      await channels.started();
      resolveReady();
    },
  } as unknown as Middleware;
}
