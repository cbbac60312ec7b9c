import type { ReservationCommand, ReserveStockCommand } from "../../../lib/contracts/catalog";
import type {
  OrderEventPayload,
  ProcessPaymentCommand,
  RefundPaymentCommand,
} from "../../../lib/contracts/orders";
import {
  EventTypes,
  InventoryCommandTypes,
  PaymentCommandTypes,
  Topic,
  Topics,
} from "../../../lib/messaging/topics";
import type { OrderRecord } from "./order";

/**
 * The messages the saga sends, as plain data: the writer puts each in the
 * outbox with the order id as aggregate (partition key) and saga id.
 */
export interface Outgoing {
  topic: Topic;
  type: string;
  payload: object;
}

export type OrderEventType =
  | typeof EventTypes.OrderCreated
  | typeof EventTypes.OrderConfirmed
  | typeof EventTypes.OrderCancelled
  | typeof EventTypes.OrderShipped
  | typeof EventTypes.OrderDelivered;

/** orders.events: the order as it stands after the change. */
export function orderEvent(type: OrderEventType, order: OrderRecord): Outgoing {
  const payload: OrderEventPayload = {
    orderId: order.id,
    userId: order.userId,
    status: order.status,
    total: { amount: order.total, currency: order.currency },
    lines: order.lines.map((l) => ({ ...l })),
  };
  if (type === EventTypes.OrderCreated && order.cartId) payload.cartId = order.cartId;
  if (order.cancelReason) payload.cancelReason = order.cancelReason;
  if (order.trackingNumber) payload.trackingNumber = order.trackingNumber;
  return { topic: Topics.OrdersEvents, type, payload };
}

/** The reservation id is the order id: inventory applies each command once per order. */
export function reserveStock(order: OrderRecord): Outgoing {
  const payload: ReserveStockCommand = {
    reservationId: order.id,
    lines: order.lines.map((l) => ({ productId: l.productId, quantity: l.quantity })),
  };
  return inventoryCommand(InventoryCommandTypes.ReserveStock, payload);
}

export function commitStock(order: OrderRecord): Outgoing {
  return inventoryCommand(InventoryCommandTypes.CommitStock, { reservationId: order.id });
}

export function releaseStock(order: OrderRecord, reason: string): Outgoing {
  return inventoryCommand(InventoryCommandTypes.ReleaseStock, { reservationId: order.id, reason });
}

export function returnStock(order: OrderRecord, reason: string): Outgoing {
  return inventoryCommand(InventoryCommandTypes.ReturnStock, { reservationId: order.id, reason });
}

/**
 * The charge, once per order (the order id is its idempotency key). A card's
 * token travels only here: it is the provider's token, never card data, so
 * it may sit in the outbox row like any message (published rows are purged
 * after the outbox's retention). It is never logged.
 */
export function processPayment(order: OrderRecord, token: string | undefined): Outgoing {
  const payload: ProcessPaymentCommand = {
    orderId: order.id,
    userId: order.userId,
    amount: { amount: order.total, currency: order.currency },
    method: token ? { type: order.paymentMethod, token } : { type: order.paymentMethod },
    lines: order.lines,
  };
  return { topic: Topics.PaymentsCommands, type: PaymentCommandTypes.ProcessPayment, payload };
}

/** Give back whatever was (or will be) captured for the order; payments refunds once per order. */
export function refundPayment(order: OrderRecord, reason: string): Outgoing {
  const payload: RefundPaymentCommand = { orderId: order.id, reason };
  return { topic: Topics.PaymentsCommands, type: PaymentCommandTypes.RefundPayment, payload };
}

function inventoryCommand(type: string, payload: ReserveStockCommand | ReservationCommand) {
  return { topic: Topics.InventoryCommands, type, payload };
}
