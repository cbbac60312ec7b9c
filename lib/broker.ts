import { Server as NetServer } from "node:net";
import type { Server as HttpServer } from "node:http";
import { BrokerOptions, Errors, Middleware, ServiceBroker } from "moleculer";
import type { Config } from "./config";
import { cacherOptions } from "./infra/cache";
import { channelsMiddleware } from "./infra/channels";
import { attachInfrastructure, Infrastructure } from "./infra";
import { transporterOptions } from "./infra/transporter";
import { loggerOptions } from "./observability/logger";
import { BusinessMetricsMiddleware, metricsOptions } from "./observability/metrics";
import { RequestContextMiddleware } from "./observability/request-context";
import { tracingOptions } from "./observability/tracing";

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
    // TRANSPORTER with the TLS (and Kafka SASL) settings of lib/infra/tls.ts.
    transporter: transporterOptions(config),
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
    // In-flight requests finish before a node stops (SIGTERM drains, see DrainMiddleware).
    tracking: { enabled: true, shutdownTimeout: 10_000 },
    validator: true,
    // Prometheus on METRICS_PORT (unset: off); spans to TRACING_EXPORTER (none: off).
    metrics: metricsOptions(config),
    tracing: tracingOptions(config),
    middlewares: [
      InfrastructureMiddleware(infra),
      RequestContextMiddleware(),
      channelsMiddleware(config),
      BusinessMetricsMiddleware(),
      DrainMiddleware(),
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

/**
 * SIGTERM drains a node: Moleculer's handler calls broker.stop(), which waits
 * for requests in flight (tracking), stops the services (channel consumers
 * after their current message), closes connections, and the process exits 0.
 * But Moleculer closes the gateway's HTTP server only when the api service
 * stops, after that wait: the node would take new requests while draining.
 * This closes every local service's listening server first, so new
 * connections are refused while requests in flight finish.
 */
function DrainMiddleware(): Middleware {
  return {
    name: "Drain",
    created(broker: ServiceBroker) {
      const stop = broker.stop.bind(broker);
      broker.stop = async () => {
        const servers = stopAcceptingConnections(broker);
        try {
          await stop();
        } finally {
          // Keep-alive connections that were busy when the drain began would
          // otherwise outlive the node and feed requests to stopped services.
          for (const server of servers) server.closeAllConnections();
        }
      };
    },
  } as Middleware;
}

function stopAcceptingConnections(broker: ServiceBroker): HttpServer[] {
  const closed: HttpServer[] = [];
  for (const service of broker.services) {
    const server = (service as unknown as { server?: unknown }).server;
    if (server instanceof NetServer && server.listening) {
      // Idle keep-alive connections close now; busy ones after their response.
      server.close();
      service.logger.info("Stopped accepting connections; finishing the requests in flight");
      if (isHttpServer(server)) closed.push(server);
    }
  }
  return closed;
}

function isHttpServer(server: NetServer): server is HttpServer {
  return typeof (server as Partial<HttpServer>).closeAllConnections === "function";
}
