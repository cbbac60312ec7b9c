import { METRIC, MetricRegistry, Middleware, ServiceBroker } from "moleculer";
import type { Config } from "../config";
import { infrastructureOf } from "../infra";
import type { QueueCounts } from "../infra/queue/port";
import { PeriodicSampler } from "./sampler";

/**
 * Prometheus metrics (ARCHITECTURE §9): Moleculer's own (requests, channels,
 * process) plus the business metrics below, on METRICS_PORT. Names follow
 * Prometheus' conventions once Moleculer's reporter turns dots into
 * underscores: a `commerce_` prefix, the unit last (`_seconds`), `_total` on
 * counters. Every helper is a no-op when metrics are off, so services call
 * them unconditionally.
 */

/** Registered metric names (Moleculer notation; Prometheus replaces the dots with underscores). */
export const BusinessMetric = {
  ordersCreated: "commerce.orders.created.total",
  ordersConfirmed: "commerce.orders.confirmed.total",
  /** Label `reason`: OUT_OF_STOCK, PAYMENT_DECLINED, PAYMENT_TIMEOUT, CUSTOMER_REQUEST. */
  ordersCancelled: "commerce.orders.cancelled.total",
  /** From the order's creation to CONFIRMED or CANCELLED; label `outcome`. */
  checkoutSagaDuration: "commerce.checkout.saga.duration.seconds",
  /** Outbox rows not yet published, per service (label `service`). */
  outboxUnpublished: "commerce.outbox.unpublished.messages",
  /** Age of the oldest unpublished outbox row, per service; 0 when nothing waits. */
  outboxOldestAge: "commerce.outbox.oldest.unpublished.age.seconds",
  /** Jobs per queue (label `queue`) and state (label `state`: waiting, active, delayed, failed). */
  queueJobs: "commerce.queue.jobs",
  /** Dead letters not replayed, per original topic (label `topic`). */
  deadLetters: "commerce.dlq.messages",
  /** From a product event's occurrence to the search index having applied it. */
  searchIndexLag: "commerce.search.index.lag.seconds",
} as const;

export type BusinessMetricName = (typeof BusinessMetric)[keyof typeof BusinessMetric];

/** Queue states reported as gauges (completed jobs only grow, and are trimmed). */
export const QUEUE_STATES = ["waiting", "active", "delayed", "failed"] as const;

const SAGA_BUCKETS_SECONDS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86_400];
const LAG_BUCKETS_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

function registerBusinessMetrics(broker: ServiceBroker): void {
  const m = broker.metrics;
  m.register({
    name: BusinessMetric.ordersCreated,
    type: METRIC.TYPE_COUNTER,
    description: "Orders placed (committed PENDING)",
  });
  m.register({
    name: BusinessMetric.ordersConfirmed,
    type: METRIC.TYPE_COUNTER,
    description: "Orders confirmed (paid, stock committed)",
  });
  m.register({
    name: BusinessMetric.ordersCancelled,
    type: METRIC.TYPE_COUNTER,
    labelNames: ["reason"],
    description: "Orders cancelled, by reason",
  });
  m.register({
    name: BusinessMetric.checkoutSagaDuration,
    type: METRIC.TYPE_HISTOGRAM,
    labelNames: ["outcome"],
    buckets: SAGA_BUCKETS_SECONDS,
    description: "Checkout saga duration, order created to confirmed or cancelled (seconds)",
  });
  m.register({
    name: BusinessMetric.outboxUnpublished,
    type: METRIC.TYPE_GAUGE,
    labelNames: ["service"],
    description: "Outbox rows waiting to be published",
  });
  m.register({
    name: BusinessMetric.outboxOldestAge,
    type: METRIC.TYPE_GAUGE,
    labelNames: ["service"],
    description: "Age of the oldest unpublished outbox row (seconds)",
  });
  m.register({
    name: BusinessMetric.queueJobs,
    type: METRIC.TYPE_GAUGE,
    labelNames: ["queue", "state"],
    description: "Jobs in a job queue, by state",
  });
  m.register({
    name: BusinessMetric.deadLetters,
    type: METRIC.TYPE_GAUGE,
    labelNames: ["topic"],
    description: "Dead letters kept and not replayed, by original topic",
  });
  m.register({
    name: BusinessMetric.searchIndexLag,
    type: METRIC.TYPE_HISTOGRAM,
    buckets: LAG_BUCKETS_SECONDS,
    description: "Product event occurred to applied in the search index (seconds)",
  });
}

/** What services report. Every method does nothing when metrics are off. */
export interface BusinessMetrics {
  readonly enabled: boolean;
  orderCreated(): void;
  orderConfirmed(): void;
  orderCancelled(reason: string): void;
  checkoutSagaEnded(outcome: "confirmed" | "cancelled", durationMs: number): void;
  outboxBacklog(
    service: string,
    backlog: { unpublished: number; oldestUnpublishedAgeMs: number },
  ): void;
  queueJobs(queue: string, counts: QueueCounts): void;
  deadLetters(topic: string, count: number): void;
  searchIndexLag(lagMs: number): void;
}

type MetricRegistryOptions = MetricRegistry.MetricRegistryOptions;

const seconds = (ms: number) => Math.max(0, ms) / 1000;

/** The business metrics of a broker (no-ops unless its metrics are on and registered). */
export function businessMetrics(broker: ServiceBroker): BusinessMetrics {
  const m = broker.metrics;
  const enabled = broker.isMetricsEnabled() && m.hasMetric(BusinessMetric.ordersCreated);
  if (!enabled) return NO_METRICS;
  return {
    enabled,
    orderCreated: () => m.increment(BusinessMetric.ordersCreated),
    orderConfirmed: () => m.increment(BusinessMetric.ordersConfirmed),
    orderCancelled: (reason) => m.increment(BusinessMetric.ordersCancelled, { reason }),
    checkoutSagaEnded: (outcome, durationMs) =>
      m.observe(BusinessMetric.checkoutSagaDuration, seconds(durationMs), { outcome }),
    outboxBacklog(service, backlog) {
      m.set(BusinessMetric.outboxUnpublished, backlog.unpublished, { service });
      m.set(BusinessMetric.outboxOldestAge, seconds(backlog.oldestUnpublishedAgeMs), { service });
    },
    queueJobs(queue, counts) {
      for (const state of QUEUE_STATES)
        m.set(BusinessMetric.queueJobs, counts[state], { queue, state });
    },
    deadLetters: (topic, count) => m.set(BusinessMetric.deadLetters, count, { topic }),
    searchIndexLag: (lagMs) => m.observe(BusinessMetric.searchIndexLag, seconds(lagMs)),
  };
}

const NO_METRICS: BusinessMetrics = {
  enabled: false,
  orderCreated() {},
  orderConfirmed() {},
  orderCancelled() {},
  checkoutSagaEnded() {},
  outboxBacklog() {},
  queueJobs() {},
  deadLetters() {},
  searchIndexLag() {},
};

/** Broker `metrics` option: Prometheus on METRICS_PORT, or off when it is unset. */
export function metricsOptions(config: Config): MetricRegistryOptions {
  if (config.metricsPort === undefined) return { enabled: false };
  return {
    enabled: true,
    reporter: {
      type: "Prometheus",
      options: { port: config.metricsPort, path: config.metricsPath },
    },
  };
}

/**
 * Registers the business metrics once per broker, when its metrics are on,
 * and samples the job queues this node opened (BullMQ counts are shared by
 * every node of a deployment: dashboards take the max per queue).
 */
export function BusinessMetricsMiddleware(): Middleware {
  let queues: PeriodicSampler | undefined;
  return {
    name: "BusinessMetrics",
    created(broker: ServiceBroker) {
      if (broker.isMetricsEnabled()) registerBusinessMetrics(broker);
    },
    started(broker: ServiceBroker) {
      const metrics = businessMetrics(broker);
      if (!metrics.enabled) return;
      const infra = infrastructureOf(broker);
      queues = new PeriodicSampler(
        "job queues",
        async () => {
          const opened = infra.queues.opened();
          await Promise.all(opened.map(async (q) => metrics.queueJobs(q.name, await q.counts())));
        },
        infra.config.metricsSampleIntervalMs,
        broker.getLogger("metrics"),
      );
      queues.start();
    },
    // Before services stop: they close their queues.
    async stopping() {
      await queues?.stop();
    },
  } as unknown as Middleware;
}
