import { Adapters } from "@moleculer/channels";
import { loadConfig } from "../../lib/config";
import {
  channelsMiddleware,
  createChannelsAdapter,
  kafkaClientOptions,
} from "../../lib/infra/channels";
import {
  NatsChannelsAdapter,
  RedisChannelsAdapter,
} from "../../lib/infra/channels/durable-adapters";
import { InProcessAdapter } from "../../lib/infra/channels/in-process";

/**
 * How CHANNELS_URL=kafka://… and the KAFKA_* keys become kafkajs options.
 * No Kafka server can run on our machines, so this checks the options only;
 * the adapter's behaviour is the library's, exercised against Kafka in the
 * Compose stack (the contract suite covers the same code paths on Redis/NATS).
 */
describe("Kafka channels configuration", () => {
  const url = "kafka://k1.example:9092,k2.example:9093";

  it("takes every broker from the URL, with or without a repeated scheme", () => {
    expect(kafkaClientOptions(loadConfig({ CHANNELS_URL: url }), url)).toEqual({
      brokers: ["k1.example:9092", "k2.example:9093"],
    });
    const repeated = "kafka://a:9092, kafka://b:9092/";
    expect(kafkaClientOptions(loadConfig({}), repeated).brokers).toEqual(["a:9092", "b:9092"]);
  });

  it("turns on TLS with certificate verification by default", () => {
    const config = loadConfig({ CHANNELS_URL: url, KAFKA_SSL: "true" });
    expect(kafkaClientOptions(config, url).ssl).toEqual({ rejectUnauthorized: true });
  });

  it("lets verification be switched off explicitly", () => {
    const config = loadConfig({
      CHANNELS_URL: url,
      KAFKA_SSL: "true",
      KAFKA_SSL_REJECT_UNAUTHORIZED: "false",
    });
    expect(kafkaClientOptions(config, url).ssl).toEqual({ rejectUnauthorized: false });
  });

  it("adds SASL credentials", () => {
    const config = loadConfig({
      CHANNELS_URL: url,
      KAFKA_SSL: "true",
      KAFKA_SASL_MECHANISM: "scram-sha-512",
      KAFKA_SASL_USERNAME: "svc",
      KAFKA_SASL_PASSWORD: "s3cret",
    });
    expect(kafkaClientOptions(config, url)).toEqual({
      brokers: ["k1.example:9092", "k2.example:9093"],
      ssl: { rejectUnauthorized: true },
      sasl: { mechanism: "scram-sha-512", username: "svc", password: "s3cret" },
    });
  });

  it("refuses SASL without credentials and unknown mechanisms", () => {
    const config = loadConfig({ CHANNELS_URL: url, KAFKA_SASL_MECHANISM: "plain" });
    expect(() => kafkaClientOptions(config, url)).toThrow(/KAFKA_SASL_USERNAME/);
    expect(() => loadConfig({ KAFKA_SASL_MECHANISM: "kerberos" })).toThrow(/KAFKA_SASL_MECHANISM/);
    expect(() => loadConfig({ KAFKA_SSL: "yes" })).toThrow(/KAFKA_SSL/);
  });

  it("builds the library's Kafka adapter with those options and the common ones", () => {
    const config = loadConfig({
      CHANNELS_URL: url,
      CHANNELS_PREFIX: "shop",
      CHANNELS_MAX_RETRIES: "5",
      KAFKA_SSL: "true",
      KAFKA_SASL_MECHANISM: "plain",
      KAFKA_SASL_USERNAME: "svc",
      KAFKA_SASL_PASSWORD: "pw",
    });
    const adapter = createChannelsAdapter(config) as InstanceType<typeof Adapters.Kafka>;
    expect(adapter).toBeInstanceOf(Adapters.Kafka);
    expect(adapter.opts).toMatchObject({
      prefix: "shop",
      maxRetries: 5,
      deadLettering: { enabled: true },
      kafka: {
        brokers: ["k1.example:9092", "k2.example:9093"],
        ssl: { rejectUnauthorized: true },
        sasl: { mechanism: "plain", username: "svc", password: "pw" },
      },
    });
    expect(() => channelsMiddleware(config)).not.toThrow();
  });
});

describe("channels adapter selection", () => {
  it("is in-process when CHANNELS_URL is unset", () => {
    expect(createChannelsAdapter(loadConfig({}))).toBeInstanceOf(InProcessAdapter);
  });

  it("uses Redis Streams for redis:// and rediss://, with the redelivery timings", () => {
    const config = loadConfig({
      CHANNELS_URL: "rediss://cache:6380",
      CHANNELS_ACK_WAIT_MS: "5000",
      CHANNELS_POLL_INTERVAL_MS: "200",
    });
    const adapter = createChannelsAdapter(config) as RedisChannelsAdapter;
    expect(adapter).toBeInstanceOf(RedisChannelsAdapter);
    expect(adapter.opts.redis).toMatchObject({
      host: "cache",
      port: 6380,
      tls: { rejectUnauthorized: true },
      consumerOptions: { minIdleTime: 5000, claimInterval: 200, processingAttemptsInterval: 200 },
    });
  });

  it("uses NATS JetStream for nats://, credentials moved to connection options", () => {
    const config = loadConfig({
      CHANNELS_URL: "nats://app:pw@nats1:4222",
      CHANNELS_ACK_WAIT_MS: "2000",
    });
    const adapter = createChannelsAdapter(config) as NatsChannelsAdapter;
    expect(adapter).toBeInstanceOf(NatsChannelsAdapter);
    expect(adapter.opts.nats.connectionOptions).toMatchObject({
      servers: ["nats1:4222"],
      user: "app",
      pass: "pw",
    });
    expect(adapter.opts.nats.consumerOptions).toMatchObject({
      config: { ack_wait: 2_000_000_000 },
    });
  });

  it("refuses other schemes", () => {
    expect(() => createChannelsAdapter(loadConfig({ CHANNELS_URL: "amqp://rabbit" }))).toThrow(
      /unsupported scheme/,
    );
  });
});
