import type { Transaction } from "sequelize";
import { lineageOf, MessageOrigin } from "../../lib/messaging/outbox";
import type { OutboxHandle } from "../../mixins/outbox.mixin";
import type { OrderStatus } from "../../lib/contracts/orders";
import { Decision, orderChanged, OrderRecord, sagaStateOf, TimelineStep } from "./domain/order";
import type { TimelineEntry } from "./domain/order-view";
import type { LockedOrder, NewStep, OrderRepository } from "./order-repository";
import type { OrderChanges } from "./order-changes";
import { countDecision, OrderMetrics } from "./order-metrics";

export type OrdersOutbox = Pick<OutboxHandle, "enqueueAll">;

/** The message being handled: its id, and the id of the message that caused it (its header). */
export interface ReceivedMessage {
  id: string;
  causationId?: string;
}

/**
 * Writes what a decision says, in the caller's transaction: the order row
 * (guarded by its version) when the order changed, the saga row, the
 * timeline, and each step's message through the outbox. So the state, its
 * history and its messages commit together or not at all; the order metrics
 * count it once committed.
 */
export class DecisionWriter {
  constructor(
    private readonly repository: OrderRepository,
    private readonly outbox: OrdersOutbox,
    private readonly metrics?: OrderMetrics,
    private readonly changes?: Pick<OrderChanges, "changed">,
  ) {}

  /** A new order with its saga. `paymentToken` waits in the saga row for ProcessPayment. */
  async create(
    tx: Transaction,
    decision: Decision,
    origin: MessageOrigin,
    paymentToken: string | null,
  ): Promise<TimelineEntry[]> {
    const { order, steps } = decision;
    const correlationId = lineageOf(origin).correlationId ?? null;
    await this.repository.insertOrder(tx, order, {
      state: sagaStateOf(order.status),
      lastStep: steps[steps.length - 1].step,
      stepCount: steps.length,
      correlationId,
      pendingPaymentToken: paymentToken,
    });
    this.countAfterCommit(tx, null, order);
    return this.writeSteps(tx, order.id, 0, steps, origin, undefined, order.createdAt);
  }

  /**
   * The change of a locked order, decided at `at`. Without an origin (the
   * sweeper), messages carry the correlation of the request that started the
   * saga. A decision that only adds to the timeline leaves the order row as
   * it is and moves its saga row alone.
   */
  async apply(
    tx: Transaction,
    locked: LockedOrder,
    decision: Decision,
    at: number,
    origin: MessageOrigin | undefined,
    received?: ReceivedMessage,
  ): Promise<TimelineEntry[]> {
    const { order, steps } = decision;
    const from = origin ?? { meta: { correlationId: locked.saga.correlationId ?? undefined } };
    const saga = {
      state: sagaStateOf(order.status),
      lastStep: steps[steps.length - 1].step,
      stepCount: locked.saga.stepCount + steps.length,
      dropPaymentToken: order.status !== "PENDING",
    };
    if (orderChanged(locked.order, order)) {
      const moved = await this.repository.updateOrder(tx, order, locked.order.version, saga, at);
      // The row is locked (or SQLite's one writer is us): only a bug gets here.
      if (!moved) throw new Error(`order ${order.id} changed under its lock`);
      this.countAfterCommit(tx, locked.order.status, order);
    } else await this.repository.updateSaga(tx, order.id, saga, at);
    const changes = this.changes;
    if (changes) tx.afterCommit(() => changes.changed(order.id, order.status));
    return this.writeSteps(tx, order.id, locked.saga.stepCount, steps, from, received, at);
  }

  /** Counted only once the transaction commits (a rolled-back or retried attempt never counts). */
  private countAfterCommit(tx: Transaction, before: OrderStatus | null, after: OrderRecord): void {
    const metrics = this.metrics;
    if (metrics) tx.afterCommit(() => countDecision(metrics, before, after));
  }

  private async writeSteps(
    tx: Transaction,
    orderId: string,
    stepsBefore: number,
    steps: TimelineStep[],
    origin: MessageOrigin,
    received: ReceivedMessage | undefined,
    at: number,
  ): Promise<TimelineEntry[]> {
    const lineage = lineageOf(origin, orderId);
    // The steps' messages, in step order, in one statement.
    const sentIds = await this.outbox.enqueueAll(
      tx,
      steps.flatMap((step) =>
        step.send ? [{ ...step.send, aggregateId: orderId, sagaId: orderId }] : [],
      ),
      origin,
    );
    let nextSent = 0;
    const written: NewStep[] = steps.map((step, i) => {
      // A step that sends records its message, caused by the one handled; one that
      // does not records the message handled, caused by whatever caused that.
      const sent = step.send ? sentIds[nextSent++] : undefined;
      return {
        seq: stepsBefore + i + 1,
        step: step.step,
        detail: step.detail ?? null,
        messageId: sent ?? received?.id ?? null,
        causationId: (sent ? lineage.causationId : received?.causationId) ?? null,
        correlationId: lineage.correlationId ?? null,
        at,
      };
    });
    await this.repository.insertSteps(tx, orderId, written);
    return written.map((s) => ({
      seq: s.seq,
      step: s.step,
      detail: s.detail,
      at: new Date(s.at).toISOString(),
      messageId: s.messageId,
      causationId: s.causationId,
      correlationId: s.correlationId,
    }));
  }
}
