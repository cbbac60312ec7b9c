import type {
  ReservationOutcome,
  StockChangedPayload,
  StockLevel,
} from "../../lib/contracts/catalog";
import type { OutboxMessageInput } from "../../lib/messaging/outbox";
import { EventTypes, Topics } from "../../lib/messaging/topics";
import type { OutboxHandle } from "../../mixins/outbox.mixin";

/**
 * Messages the inventory service publishes, always through the outbox in the
 * transaction that made the change:
 *  - `StockChanged` on product.events (aggregate = product id) for every
 *    change of a stock row, carrying the row's new version;
 *  - `StockReserved` / `StockRejected` / `StockCommitted` / `StockReleased` /
 *    `StockReturned` on inventory.events (aggregate = reservation id) with the reservation's
 *    outcome: the facts of its transitions, and the answers to commands.
 */
export type InventoryOutbox = Pick<OutboxHandle, "enqueue" | "enqueueAll">;

export type ReservationEventType =
  | typeof EventTypes.StockReserved
  | typeof EventTypes.StockRejected
  | typeof EventTypes.StockCommitted
  | typeof EventTypes.StockReleased
  | typeof EventTypes.StockReturned;

export function stockChanged(level: StockLevel): OutboxMessageInput {
  const payload: StockChangedPayload = { ...level };
  return {
    topic: Topics.ProductEvents,
    type: EventTypes.StockChanged,
    aggregateId: level.productId,
    payload,
  };
}

export function reservationEvent(
  type: ReservationEventType,
  outcome: ReservationOutcome,
): OutboxMessageInput {
  return {
    topic: Topics.InventoryEvents,
    type,
    aggregateId: outcome.reservationId,
    payload: outcome,
  };
}

/** The event announcing that a reservation reached `status`. */
export function eventFor(status: ReservationOutcome["status"]): ReservationEventType {
  switch (status) {
    case "RESERVED":
      return EventTypes.StockReserved;
    case "REJECTED":
      return EventTypes.StockRejected;
    case "COMMITTED":
      return EventTypes.StockCommitted;
    case "RELEASED":
      return EventTypes.StockReleased;
    case "RETURNED":
      return EventTypes.StockReturned;
  }
}
