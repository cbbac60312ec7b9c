import type { Context, ServiceBroker, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { infrastructureOf } from "../lib/infra";
import { channelsReady } from "../lib/infra/channels";
import {
  MessageOrigin,
  Outbox,
  OutboxMessage,
  OutboxMessageInput,
  OutboxStatus,
} from "../lib/messaging/outbox";
import { businessMetrics } from "../lib/observability/metrics";
import { PeriodicSampler } from "../lib/observability/sampler";
import { sampleNewTrace } from "../lib/observability/tracing";
import type { DatabaseThis } from "./database.mixin";
import type { Transaction } from "sequelize";

/**
 * Transactional outbox for a service that also has DatabaseMixin (list it
 * after DatabaseMixin, and its migrations with the service's):
 *
 *   await this.db.transaction(async (tx) => {
 *     await orders.insert(tx, order);
 *     await this.outbox.enqueue(tx, { topic: Topics.OrdersEvents, type: "OrderCreated",
 *       aggregateId: order.id, payload: { ... } }, ctx);
 *   });
 *
 * The message is published right after commit, or by the sweeper if this node
 * dies first. Action `outboxStatus` (no REST route) reports the backlog.
 */
export interface OutboxHandle {
  /** Adds the message to `tx`; resolves with its message id. */
  enqueue(
    tx: Transaction,
    message: OutboxMessageInput,
    ctx?: Context | MessageOrigin,
  ): Promise<string>;
  /** Adds the messages to `tx` in one statement, in order; resolves with their message ids. */
  enqueueAll(
    tx: Transaction,
    messages: readonly OutboxMessageInput[],
    ctx?: Context | MessageOrigin,
  ): Promise<string[]>;
  status(): Promise<OutboxStatus>;
}

export interface OutboxThis {
  outbox: OutboxHandle;
}

export interface OutboxMixinOptions {
  /** Test seam, see OutboxOptions.afterPublish: throwing simulates a crash between publish and mark. */
  afterPublish?: (message: OutboxMessage) => void | Promise<void>;
}

type OutboxVars = DatabaseThis &
  OutboxThis & { outboxRelay?: Outbox; outboxSampler?: PeriodicSampler };

/**
 * Puts an envelope on its channel with its headers, partitioned by its
 * aggregate. `source` is the sending service's full name.
 */
export function sendEnvelope(
  broker: ServiceBroker,
  message: Pick<OutboxMessage, "topic" | "aggregateId" | "envelope" | "headers">,
  source: string,
): Promise<void> {
  const { headers } = message;
  return broker.sendToChannel(message.topic, message.envelope, {
    key: message.aggregateId,
    headers: { ...headers },
    // Gives the consumer's ctx the trace (requestID; the correlation id unless the message
    // says otherwise), its parent span (the one that enqueued the message) and ids in meta.
    // A message enqueued outside any span (by a sweeper) is traced under its correlation id
    // if the tracer samples it; its parent is then the message id, a span nobody recorded.
    ctx: {
      id: headers.parentSpanId ?? headers.messageId,
      requestID: headers.traceId ?? headers.correlationId,
      level: 1,
      tracing: headers.traceSampled ? headers.traceSampled === "true" : sampleNewTrace(broker),
      service: { fullName: source },
      meta: {
        correlationId: headers.correlationId,
        ...(headers.sagaId ? { sagaId: headers.sagaId } : {}),
        messageId: headers.messageId,
      },
    },
  });
}

export function OutboxMixin(opts: OutboxMixinOptions = {}): Partial<ServiceSchema> {
  const schema: Partial<ServiceSchema<ServiceSettingSchema, Record<string, never>, OutboxVars>> = {
    actions: {
      outboxStatus: {
        visibility: "public",
        async handler() {
          return { service: this.name, ...(await this.outbox.status()) };
        },
      },
    },

    async started() {
      if (typeof this.databaseReady !== "function")
        throw new Error(`${this.name}: OutboxMixin needs DatabaseMixin`);
      const db = await this.databaseReady();
      const { config } = infrastructureOf(this.broker);
      const broker = this.broker;
      const source = this.fullName;
      const relay = new Outbox({
        db,
        service: this.name,
        logger: this.logger,
        sweepIntervalMs: config.outboxSweepIntervalMs,
        sweepAgeMs: config.outboxSweepAgeMs,
        afterPublish: opts.afterPublish,
        stopping: () => broker.stopping,
        async publish(message) {
          // Messages written while the node starts wait for the adapter.
          await channelsReady(broker);
          await sendEnvelope(broker, message, source);
        },
      });
      this.outboxRelay = relay;
      this.outbox = relay;
      relay.start();

      // The backlog gauges (metrics on): what is waiting, and for how long.
      const metrics = businessMetrics(broker);
      if (metrics.enabled) {
        const service = this.name;
        this.outboxSampler = new PeriodicSampler(
          `the ${service} outbox`,
          async () => metrics.outboxBacklog(service, await relay.status()),
          config.metricsSampleIntervalMs,
          this.logger,
        );
        this.outboxSampler.start();
      }
    },

    async stopped() {
      await this.outboxSampler?.stop();
      await this.outboxRelay?.stop();
    },
  };
  // Services mix it into their own typed schemas.
  return schema as Partial<ServiceSchema>;
}
