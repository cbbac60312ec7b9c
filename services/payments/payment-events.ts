import type { PaymentEventPayload } from "../../lib/contracts/orders";
import type { OutboxMessageInput } from "../../lib/messaging/outbox";
import { EventTypes, Topics } from "../../lib/messaging/topics";
import type { OutboxHandle } from "../../mixins/outbox.mixin";
import type { PaymentRecord } from "./domain/payment";

/**
 * What the payments service tells the orders saga, always through the
 * outbox in the transaction that made the change, on payments.events
 * (aggregate = order id, so one order's events stay in order):
 *  - PaymentPending: an asynchronous charge waits for the provider's webhook;
 *  - PaymentSucceeded: SUCCEEDED, or AWAITING_COLLECTION for cash on delivery;
 *  - PaymentFailed: declined (`DECLINED`) or refused (`PROVIDER_ERROR`);
 *  - PaymentRefunded: the money went back.
 */
export type PaymentsOutbox = Pick<OutboxHandle, "enqueue">;

export type PaymentEventType =
  | typeof EventTypes.PaymentPending
  | typeof EventTypes.PaymentSucceeded
  | typeof EventTypes.PaymentFailed
  | typeof EventTypes.PaymentRefunded;

export function paymentEvent(
  type: PaymentEventType,
  payment: PaymentRecord,
  extra: Pick<PaymentEventPayload, "refundId" | "receipt"> = {},
): OutboxMessageInput {
  const payload: PaymentEventPayload = {
    orderId: payment.orderId,
    paymentId: payment.id,
    userId: payment.userId,
    status: payment.status,
    amount: payment.amount,
    method: payment.method,
    ...(payment.providerChargeId ? { providerReference: payment.providerChargeId } : {}),
    ...(payment.failureCode ? { failureCode: payment.failureCode } : {}),
    ...(payment.failureMessage ? { failureMessage: payment.failureMessage } : {}),
    ...extra,
  };
  return { topic: Topics.PaymentsEvents, type, aggregateId: payment.orderId, payload };
}

/** The event announcing that a payment reached `status`. */
export function eventFor(status: PaymentRecord["status"]): PaymentEventType {
  switch (status) {
    case "PENDING":
      return EventTypes.PaymentPending;
    case "SUCCEEDED":
    case "AWAITING_COLLECTION":
      return EventTypes.PaymentSucceeded;
    case "FAILED":
      return EventTypes.PaymentFailed;
    case "REFUNDED":
      return EventTypes.PaymentRefunded;
  }
}
