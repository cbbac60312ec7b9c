import { randomUUID } from "node:crypto";
import type { RefundPaymentCommand } from "../../lib/contracts/orders";
import { processOnce } from "../../lib/messaging/inbox";
import type { MessageOrigin } from "../../lib/messaging/outbox";
import type { PaymentRecord } from "./domain/payment";
import { PaymentTransitions } from "./payment-transitions";
import type { PaymentsOutbox } from "./payment-events";
import type { PaymentsRepository } from "./payments-repository";
import type { PaymentProvider } from "./provider/port";
import type { Clock, PaymentsLog, Transactional } from "./use-case-support";

/**
 * RefundPayment: give back what was captured for an order, once.
 *
 * The request is recorded first (refund_requested on the payment, in the
 * transaction that records the command in the inbox); the provider is then
 * called outside any transaction with idempotency key `refund-<payment id>`,
 * and the outcome recorded with PaymentRefunded in the outbox. Because the
 * request is recorded before the call, nothing is lost if the call fails or
 * the node dies: the refund sweeper finds SUCCEEDED payments whose refund
 * is still owed and tries again.
 *
 *  - no payment, FAILED, AWAITING_COLLECTION: nothing was captured, nothing to do;
 *  - PENDING: the refund is owed as soon as the charge succeeds (charge.use-cases.ts);
 *  - SUCCEEDED: refunded now;   REFUNDED: already done.
 */
export const REFUND_COMMANDS_CONSUMER = "payments.commands";

export type RefundResult =
  | { kind: "refunded"; payment: PaymentRecord }
  | { kind: "deferred"; payment: PaymentRecord }
  | { kind: "nothing-captured"; payment: PaymentRecord | null }
  | { kind: "not-yet"; payment: PaymentRecord }
  | { kind: "unchanged"; payment: PaymentRecord }
  | { kind: "duplicate" };

export interface RefundUseCasesDeps {
  repository: PaymentsRepository;
  database: Transactional;
  outbox: PaymentsOutbox;
  provider: PaymentProvider;
  log: PaymentsLog;
  now?: Clock;
}

export class RefundUseCases {
  private readonly transitions: PaymentTransitions;
  private readonly now: Clock;

  constructor(private readonly deps: RefundUseCasesDeps) {
    this.now = deps.now ?? Date.now;
    this.transitions = new PaymentTransitions(deps.repository, deps.outbox, deps.log, this.now);
  }

  /** The RefundPayment command (`messageId`: its envelope id, recorded in the inbox). */
  async request(
    command: RefundPaymentCommand,
    messageId: string,
    origin?: MessageOrigin,
  ): Promise<RefundResult> {
    const { repository } = this.deps;
    const recorded = await this.deps.database.transaction(async (tx) => {
      if (!(await processOnce(tx, REFUND_COMMANDS_CONSUMER, messageId)))
        return { kind: "duplicate" } as const;
      const found = await repository.findByOrderId(command.orderId, tx);
      if (!found) return { kind: "nothing-captured", payment: null } as const;
      const payment = (await repository.findById(found.id, tx, true))!;
      if (payment.status === "PENDING" || payment.status === "SUCCEEDED") {
        await repository.requestRefund(tx, payment.id, command.reason, this.now());
        return { kind: "owed", payment: { ...payment, refundRequested: true } } as const;
      }
      return payment.status === "REFUNDED"
        ? ({ kind: "unchanged", payment } as const)
        : ({ kind: "nothing-captured", payment } as const);
    });
    if (recorded.kind === "nothing-captured")
      this.deps.log.info(
        `RefundPayment for order ${command.orderId}: nothing was captured; nothing to refund`,
      );
    if (recorded.kind !== "owed") return recorded;
    if (recorded.payment.status === "PENDING")
      return { kind: "deferred", payment: recorded.payment };
    return this.refundIfRequested(recorded.payment, origin);
  }

  /**
   * Refunds a SUCCEEDED payment whose refund was asked for; anything else is
   * left as it is. `payment` was read under its row lock (or after): when no
   * refund was asked for then, there is nothing to check again, because a
   * request that comes later finds the payment settled and refunds it itself.
   */
  async refundIfRequested(payment: PaymentRecord, origin?: MessageOrigin): Promise<RefundResult> {
    if (!payment.refundRequested) return { kind: "unchanged", payment };
    const { repository, provider } = this.deps;
    const refund = await this.deps.database.transaction(async (tx) => {
      const current = await repository.findById(payment.id, tx, true);
      if (current?.status !== "SUCCEEDED" || !current.refundRequested || !current.providerChargeId)
        return null;
      const stored = await repository.ensureRefund(
        tx,
        {
          id: randomUUID(),
          paymentId: current.id,
          providerRefundId: null,
          amount: current.amount.amount,
          currency: current.amount.currency,
          status: "PENDING",
          reason: current.refundReason,
        },
        this.now(),
      );
      return { payment: current, refund: stored };
    });
    if (!refund) return { kind: "unchanged", payment };
    const result = await provider.refund({
      idempotencyKey: `refund-${payment.id}`,
      chargeId: refund.payment.providerChargeId!,
      amount: refund.refund.amount,
    });
    return this.deps.database.transaction(async (tx) => {
      const current = (await repository.findById(payment.id, tx, true))!;
      const now = this.now();
      await repository.recordAttempts(tx, payment.id, "refund", result.attempts, now);
      const alreadyRefunded =
        result.kind === "rejected" && result.code === "charge_already_refunded";
      if (result.kind === "ok" || alreadyRefunded) {
        await repository.completeRefund(
          tx,
          payment.id,
          result.kind === "ok" ? result.value.id : null,
          now,
        );
        const applied = await this.transitions.apply(tx, current, "REFUNDED", {}, origin, {
          refundId: refund.refund.id,
        });
        return applied.kind === "changed"
          ? { kind: "refunded", payment: applied.payment }
          : { kind: "unchanged", payment: applied.payment };
      }
      if (result.kind === "unknown")
        this.deps.log.warn(
          `Refund of payment ${payment.id}: outcome unknown (${result.reason}); the sweeper retries`,
        );
      else {
        await repository.failRefund(tx, payment.id, now);
        this.deps.log.error(
          `Refund of payment ${payment.id} refused by the provider: ${result.message}; left to an operator`,
        );
      }
      return { kind: "not-yet", payment: current };
    });
  }

  /**
   * One sweep: refunds that are owed but not done (a call that failed, a
   * node that died after recording the request). Returns how many it tried.
   */
  async sweep(olderThanMs: number, shouldStop: () => boolean = () => false): Promise<number> {
    const owed = await this.deps.repository.refundsOwed(this.now() - olderThanMs, 50);
    let tried = 0;
    for (const payment of owed) {
      if (shouldStop()) break;
      await this.refundIfRequested(payment);
      tried++;
    }
    return tried;
  }
}
