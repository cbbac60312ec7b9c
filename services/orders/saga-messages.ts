import type { ReservationOutcome } from "../../lib/contracts/catalog";
import type { PaymentEventPayload } from "../../lib/contracts/orders";
import type { MessageEnvelope } from "../../lib/messaging/envelope";
import { EventTypes } from "../../lib/messaging/topics";
import type { OrderEvent } from "./domain/order";

/**
 * What the saga hears on `inventory.events` and `payments.events`: the
 * envelope turned into an order event, with the order it is about (the
 * reservation id and the payment's order id are the order id). Types the
 * saga does not react to are skipped; a message whose payload names no
 * order cannot be applied and throws, so it ends in the DLQ for an operator.
 */
export const INVENTORY_EVENTS_CONSUMER = "orders:inventory.events";
export const PAYMENTS_EVENTS_CONSUMER = "orders:payments.events";

export class InvalidMessageError extends Error {
  override readonly name = "InvalidMessageError";
}

export interface SagaMessage {
  orderId: string;
  event: OrderEvent;
}

const INVENTORY_TYPES = new Set<string>([
  EventTypes.StockReserved,
  EventTypes.StockRejected,
  EventTypes.StockCommitted,
  EventTypes.StockReleased,
  EventTypes.StockReturned,
]);

const PAYMENT_TYPES = new Set<string>([
  EventTypes.PaymentPending,
  EventTypes.PaymentSucceeded,
  EventTypes.PaymentFailed,
  EventTypes.PaymentRefunded,
]);

export function inventoryMessage(envelope: MessageEnvelope<unknown>): SagaMessage | null {
  if (!INVENTORY_TYPES.has(envelope.type)) return null;
  const outcome = envelope.payload as Partial<ReservationOutcome> | null;
  const orderId = outcome?.reservationId;
  if (typeof orderId !== "string" || !orderId)
    throw new InvalidMessageError(`${envelope.type} ${envelope.id} has no reservationId`);
  return {
    orderId,
    event: { type: envelope.type, outcome: outcome as ReservationOutcome } as OrderEvent,
  };
}

export function paymentMessage(envelope: MessageEnvelope<unknown>): SagaMessage | null {
  if (!PAYMENT_TYPES.has(envelope.type)) return null;
  const payment = envelope.payload as Partial<PaymentEventPayload> | null;
  const { orderId, paymentId, status } = payment ?? {};
  if (typeof orderId !== "string" || !orderId || typeof paymentId !== "string" || !status)
    throw new InvalidMessageError(
      `${envelope.type} ${envelope.id} needs orderId, paymentId and status`,
    );
  return {
    orderId,
    event: { type: envelope.type, payment: payment as PaymentEventPayload } as OrderEvent,
  };
}
