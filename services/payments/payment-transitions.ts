import type { Transaction } from "sequelize";
import type { PaymentEventPayload, PaymentStatus } from "../../lib/contracts/orders";
import type { MessageOrigin } from "../../lib/messaging/outbox";
import { decideTransition, PaymentRecord } from "./domain/payment";
import { receiptFor } from "./domain/receipt";
import { eventFor, paymentEvent, PaymentsOutbox } from "./payment-events";
import type { PaymentChanges, PaymentsRepository } from "./payments-repository";
import type { Clock, PaymentsLog } from "./use-case-support";

/**
 * Applies one state change to a payment inside the caller's transaction,
 * through the state machine's guard: the row moves only if it is still in
 * the state read, a success writes the receipt, and the change's event goes
 * into the outbox with it (PaymentSucceeded carrying that receipt). A repeat
 * changes nothing; an illegal transition changes nothing and is logged.
 */
export type TransitionResult =
  | { kind: "changed"; payment: PaymentRecord }
  | { kind: "repeat"; payment: PaymentRecord }
  | { kind: "illegal"; payment: PaymentRecord };

export class PaymentTransitions {
  constructor(
    private readonly repository: PaymentsRepository,
    private readonly outbox: PaymentsOutbox,
    private readonly log: PaymentsLog,
    private readonly now: Clock,
  ) {}

  async apply(
    tx: Transaction,
    payment: PaymentRecord,
    to: PaymentStatus,
    changes: PaymentChanges,
    origin?: MessageOrigin,
    extra: { refundId?: string } = {},
  ): Promise<TransitionResult> {
    const decision = decideTransition(payment.status, to);
    if (decision.kind === "repeat") return { kind: "repeat", payment };
    if (decision.kind === "illegal") {
      this.log.warn(
        `Payment ${payment.id} (order ${payment.orderId}): ${payment.status} → ${to} is not allowed; ignored`,
      );
      return { kind: "illegal", payment };
    }
    const now = this.now();
    if (!(await this.repository.transition(tx, payment.id, payment.status, to, changes, now)))
      throw new Error(`Payment ${payment.id} changed while locked`);
    const updated: PaymentRecord = {
      ...payment,
      status: to,
      providerChargeId: payment.providerChargeId ?? changes.providerChargeId ?? null,
      failureCode: changes.failureCode !== undefined ? changes.failureCode : payment.failureCode,
      failureMessage:
        changes.failureMessage !== undefined ? changes.failureMessage : payment.failureMessage,
      card: changes.card ?? payment.card,
      updatedAt: now,
    };
    let eventExtra: Pick<PaymentEventPayload, "refundId" | "receipt"> = extra;
    if (to === "SUCCEEDED") {
      const receipt = receiptFor(updated, now);
      // The event carries the receipt it commits with (not another one found written).
      if (await this.repository.insertReceipt(tx, receipt, now)) eventExtra = { ...extra, receipt };
    }
    await this.outbox.enqueue(tx, paymentEvent(eventFor(to), updated, eventExtra), origin);
    return { kind: "changed", payment: updated };
  }
}
