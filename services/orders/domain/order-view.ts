import type { Money } from "../../../lib/contracts/catalog";
import {
  CancelReason,
  OrderLine,
  orderReference,
  OrderStatus,
  PaymentMethodType,
  ShippingAddress,
} from "../../../lib/contracts/orders";
import type { OrderRecord, PaymentSummary, SagaStep } from "./order";

/** What GET /orders/:id (and the 201 of POST /orders) answers. */
export interface OrderView {
  id: string;
  /** The short reference of the customer's emails (orderReference). */
  reference: string;
  status: OrderStatus;
  /** Why a CANCELLED order was cancelled; null otherwise. */
  cancelReason: CancelReason | null;
  lines: OrderLine[];
  itemCount: number;
  subtotal: Money;
  total: Money;
  shippingAddress: ShippingAddress;
  paymentMethod: { type: PaymentMethodType };
  /** What the payments service last reported; null before it did. */
  payment: PaymentSummary | null;
  cartId: string | null;
  trackingNumber: string | null;
  /** AWAITING_PAYMENT: when the order is cancelled if no payment arrives. */
  paymentDeadline: string | null;
  createdAt: string;
  updatedAt: string;
  timeline: TimelineEntry[];
}

/** One step of the checkout saga, as GET /orders/:id shows it. */
export interface TimelineEntry {
  seq: number;
  step: SagaStep;
  detail: string | null;
  at: string;
  /** The message received, or sent, at this step. */
  messageId: string | null;
  /** The message whose handling caused this step. */
  causationId: string | null;
  correlationId: string | null;
}

/** A line of GET /orders. */
export interface OrderSummary {
  id: string;
  reference: string;
  status: OrderStatus;
  cancelReason: CancelReason | null;
  total: Money;
  itemCount: number;
  createdAt: string;
  updatedAt: string;
}

export function toView(order: OrderRecord, timeline: TimelineEntry[]): OrderView {
  return {
    id: order.id,
    reference: orderReference(order.id),
    status: order.status,
    cancelReason: order.cancelReason,
    lines: order.lines,
    itemCount: itemCount(order),
    subtotal: { amount: order.subtotal, currency: order.currency },
    total: { amount: order.total, currency: order.currency },
    shippingAddress: order.shippingAddress,
    paymentMethod: { type: order.paymentMethod },
    payment: order.payment,
    cartId: order.cartId,
    trackingNumber: order.trackingNumber,
    paymentDeadline: order.paymentDeadline == null ? null : iso(order.paymentDeadline),
    createdAt: iso(order.createdAt),
    updatedAt: iso(order.updatedAt),
    timeline,
  };
}

export function toSummary(order: Omit<OrderRecord, "lines">, items: number): OrderSummary {
  return {
    id: order.id,
    reference: orderReference(order.id),
    status: order.status,
    cancelReason: order.cancelReason,
    total: { amount: order.total, currency: order.currency },
    itemCount: items,
    createdAt: iso(order.createdAt),
    updatedAt: iso(order.updatedAt),
  };
}

function itemCount(order: OrderRecord): number {
  return order.lines.reduce((n, l) => n + l.quantity, 0);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
