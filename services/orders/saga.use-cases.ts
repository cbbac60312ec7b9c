import { AppError } from "../../lib/errors";
import { processOnce } from "../../lib/messaging/inbox";
import type { MessageOrigin } from "../../lib/messaging/outbox";
import { runWithRequestContext } from "../../lib/observability/request-context";
import type { DecisionWriter, ReceivedMessage } from "./decision-writer";
import { Decision, decide, OrderEvent, OrderRecord } from "./domain/order";
import type { TimelineEntry } from "./domain/order-view";
import type { OrderRepository } from "./order-repository";
import type { Clock, Transactional } from "./use-case-support";

/**
 * The checkout saga's reactions. Each one is one transaction: the inbox row
 * of the message being handled (so a redelivery changes nothing), the order
 * locked and read, the aggregate's decision, then the new state, timeline
 * and messages written together. Messages, the payment-timeout sweeper,
 * customers and admins all go through `react`, so every transition is
 * guarded by the aggregate in one place.
 */
export type ReactionResult =
  | { kind: "changed"; order: OrderRecord; timeline: TimelineEntry[] }
  /** The event changes nothing (e.g. cancelling a cancelled order). */
  | { kind: "unchanged"; order: OrderRecord }
  /** Not allowed in the order's state: nothing changed (a message is still acknowledged). */
  | { kind: "refused"; order: OrderRecord; error: AppError }
  /** This message was handled before. */
  | { kind: "duplicate" }
  /** No such order (or, for a customer, not theirs). */
  | { kind: "unknown" };

export interface ReactOptions {
  /** The Moleculer ctx (or message ctx): correlation and causation of what is sent. */
  origin?: MessageOrigin;
  /** A message being handled: applied once per consumer, and recorded on the timeline. */
  message?: { consumer: string; received: ReceivedMessage };
  /** A customer acting: only their own order exists for them. */
  ownerId?: string;
}

export interface SagaDeps {
  repository: OrderRepository;
  database: Transactional;
  writer: DecisionWriter;
  /** ORDER_PAYMENT_TIMEOUT_SEC in milliseconds. */
  paymentTimeoutMs: number;
  now?: Clock;
}

const OVERDUE_BATCH = 100;

export class SagaUseCases {
  private readonly now: Clock;

  constructor(private readonly deps: SagaDeps) {
    this.now = deps.now ?? Date.now;
  }

  react(orderId: string, event: OrderEvent, opts: ReactOptions = {}): Promise<ReactionResult> {
    const { repository, database, writer, paymentTimeoutMs } = this.deps;
    return database.transaction(async (tx): Promise<ReactionResult> => {
      const { message } = opts;
      if (message && !(await processOnce(tx, message.consumer, message.received.id)))
        return { kind: "duplicate" };
      const locked = await repository.lockOrder(tx, orderId);
      if (!locked || (opts.ownerId && locked.order.userId !== opts.ownerId))
        return { kind: "unknown" };
      const now = this.now();
      let decision: Decision;
      try {
        decision = decide(locked.order, event, {
          now,
          paymentTimeoutMs,
          paymentToken: locked.saga.pendingPaymentToken,
        });
      } catch (err) {
        if (err instanceof AppError && err.type === "CONFLICT")
          return { kind: "refused", order: locked.order, error: err };
        throw err;
      }
      if (!decision.steps.length) return { kind: "unchanged", order: locked.order };
      const timeline = await writer.apply(
        tx,
        locked,
        decision,
        now,
        opts.origin,
        message?.received,
      );
      return { kind: "changed", order: decision.order, timeline };
    });
  }

  /**
   * Cancels (PAYMENT_TIMEOUT) the orders whose payment did not come in time,
   * one transaction each. Safe on several nodes: each order is locked and
   * checked again, so it is cancelled once, and a payment that got there
   * first wins. Returns how many this call cancelled.
   */
  async cancelOverdue(shouldStop: () => boolean = () => false): Promise<number> {
    let cancelled = 0;
    for (;;) {
      const now = this.now();
      const due = await this.deps.repository.overdueOrders(
        now,
        now - this.deps.paymentTimeoutMs,
        OVERDUE_BATCH,
      );
      let inBatch = 0;
      for (const id of due) {
        if (shouldStop()) return cancelled + inBatch;
        // No request behind a sweep: its log lines name the saga they act on.
        const result = await runWithRequestContext({ sagaId: id }, () =>
          this.react(id, { type: "PaymentDeadlinePassed" }),
        );
        if (result.kind === "changed") inBatch++;
      }
      cancelled += inBatch;
      // A full batch of which this node cancelled nothing: another node is on it.
      if (due.length < OVERDUE_BATCH || inBatch === 0) return cancelled;
    }
  }
}
