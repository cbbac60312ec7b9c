import { BrokerOptions, Errors, Middleware, ServiceBroker } from "moleculer";
import type { Config } from "./config";
import { cacherOptions } from "./infra/cache";
import { channelsMiddleware } from "./infra/channels";
import { attachInfrastructure, Infrastructure } from "./infra";
import { loggerOptions } from "./observability/logger";
import { RequestContextMiddleware } from "./observability/request-context";

/**
 * Broker options for any node, built from configuration. moleculer.config.ts
 * uses it for moleculer-runner; tests use it to start real brokers with the
 * adapters they want.
 */
export function buildBrokerOptions(
  config: Config,
  extra: Partial<BrokerOptions> = {},
): BrokerOptions {
  const infra = new Infrastructure(config);
  return {
    namespace: "commerce",
    nodeID: config.nodeId ?? null,
    logger: loggerOptions(config),
    logLevel: config.logLevel,
    // moleculer resolves transporter URLs (nats://, redis://, kafka://, tcp://) at run time;
    // its typings only list names, hence the cast.
    transporter: (config.transporter ?? null) as BrokerOptions["transporter"],
    cacher: cacherOptions(config),
    serializer: "JSON",
    requestTimeout: 10_000,
    // Only errors that say so are retried (network hiccups), never business errors.
    retryPolicy: {
      enabled: true,
      retries: 3,
      delay: 100,
      maxDelay: 1000,
      factor: 2,
      check: (err: Error) => err instanceof Errors.MoleculerRetryableError,
    },
    circuitBreaker: {
      enabled: true,
      threshold: 0.5,
      minRequestCount: 20,
      windowTime: 60,
      halfOpenTime: 10_000,
      check: (err: Error) => (err as Errors.MoleculerError).code >= 500,
    },
    // In-flight requests finish before a node stops (SIGTERM drains).
    tracking: { enabled: true, shutdownTimeout: 10_000 },
    validator: true,
    metrics: { enabled: false },
    tracing: { enabled: false },
    middlewares: [
      InfrastructureMiddleware(infra),
      RequestContextMiddleware(),
      channelsMiddleware(config),
    ],
    ...extra,
  };
}

/** Binds the node's Infrastructure to its broker, logs the adapters, closes them on stop. */
function InfrastructureMiddleware(infra: Infrastructure): Middleware {
  return {
    name: "Infrastructure",
    created(broker: ServiceBroker) {
      attachInfrastructure(broker, infra);
      infra.logPorts(broker.getLogger("infra"));
    },
    async stopped() {
      await infra.close();
    },
  } as Middleware;
}
