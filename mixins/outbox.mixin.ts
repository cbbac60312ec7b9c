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
  status(): Promise<OutboxStatus>;
}

export interface OutboxThis {
  outbox: OutboxHandle;
}

export interface OutboxMixinOptions {
  /** Test seam, see OutboxOptions.afterPublish: throwing simulates a crash between publish and mark. */
  afterPublish?: (message: OutboxMessage) => void | Promise<void>;
}

type OutboxVars = DatabaseThis & OutboxThis & { outboxRelay?: Outbox };

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
    // Gives the consumer's ctx the correlation (as requestID) and ids in meta.
    ctx: {
      id: headers.messageId,
      requestID: headers.correlationId,
      level: 1,
      tracing: false,
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
        async publish(message) {
          // Messages written while the node starts wait for the adapter.
          await channelsReady(broker);
          await sendEnvelope(broker, message, source);
        },
      });
      this.outboxRelay = relay;
      this.outbox = relay;
      relay.start();
    },

    async stopped() {
      await this.outboxRelay?.stop();
    },
  };
  // Services mix it into their own typed schemas.
  return schema as Partial<ServiceSchema>;
}
