import type { Money } from "./catalog";

/**
 * Shapes that cross the orders and payments services' boundaries: REST
 * answers the storefront relies on (ARCHITECTURE §11), and the payloads of
 * `orders.events`, `payments.commands` and `payments.events`. Fields may be
 * added; none may be renamed.
 */

export type OrderStatus =
  "PENDING" | "AWAITING_PAYMENT" | "CONFIRMED" | "CANCELLED" | "SHIPPED" | "DELIVERED";

export type CancelReason =
  | "OUT_OF_STOCK"
  | "PAYMENT_DECLINED"
  | "PAYMENT_TIMEOUT"
  | "CUSTOMER_REQUEST"
  | "RESERVATION_EXPIRED";

export type PaymentMethodType = "card" | "cash_on_delivery" | "bank_transfer";

/**
 * The short reference customers see in email subjects and text messages:
 * the order id's first eight hex digits, upper-cased. It is not unique on
 * its own; operators find orders by it (REPL `order <reference>`).
 */
export function orderReference(orderId: string): string {
  return orderId.replace(/-/g, "").slice(0, 8).toUpperCase();
}

export const ORDER_REFERENCE = /^[0-9A-Fa-f]{8}$/;

/** What the client sends: a provider token for cards, never a card number. */
export interface PaymentMethodInput {
  type: PaymentMethodType;
  token?: string;
}

export interface ShippingAddress {
  name: string;
  line1: string;
  line2?: string;
  city: string;
  postalCode: string;
  country: string;
}

export interface OrderLine {
  productId: string;
  sku: string;
  name: string;
  quantity: number;
  /** Catalog price when the order was placed. */
  unitPrice: Money;
  lineTotal: Money;
}

/** OrderCreated / OrderConfirmed / OrderCancelled / OrderShipped / OrderDelivered payload (partition key = order id). */
export interface OrderEventPayload {
  orderId: string;
  userId: string;
  status: OrderStatus;
  total: Money;
  /**
   * The lines as ordered: names and prices at checkout, which are what the
   * customer pays whatever the catalog says later. Older events name only
   * the product and the quantity.
   */
  lines: OrderLine[];
  /** OrderCreated: the cart the order came from (the cart service closes it). */
  cartId?: string;
  cancelReason?: CancelReason;
  trackingNumber?: string;
}

/** payments.commands ProcessPayment: charge once per order (the order id is the idempotency key). */
export interface ProcessPaymentCommand {
  orderId: string;
  userId: string;
  amount: Money;
  method: PaymentMethodInput;
  /** Copied onto the receipt. */
  lines: OrderLine[];
}

/** payments.commands RefundPayment: give back what was captured for the order, if anything. */
export interface RefundPaymentCommand {
  orderId: string;
  reason: string;
}

export type PaymentStatus =
  | "PENDING"
  | "SUCCEEDED"
  | "FAILED"
  | "REFUNDED"
  /** cash_on_delivery: nothing charged yet; collected by the carrier. */
  | "AWAITING_COLLECTION";

/** payments.events payload (partition key = order id). */
export interface PaymentEventPayload {
  orderId: string;
  paymentId: string;
  userId: string;
  status: PaymentStatus;
  amount: Money;
  method: PaymentMethodType;
  /** The provider's charge id, when there is one. */
  providerReference?: string;
  /** PaymentFailed: `DECLINED` or `PROVIDER_ERROR`. */
  failureCode?: string;
  failureMessage?: string;
  /** PaymentRefunded. */
  refundId?: string;
  /**
   * PaymentSucceeded of a paid payment: the receipt written with it, so its
   * readers need not ask for it. Older events may lack it.
   */
  receipt?: Receipt;
}

/** GET /orders/:id/receipt, produced by payments for each successful payment. */
export interface Receipt {
  receiptNumber: string;
  orderId: string;
  paymentId: string;
  userId: string;
  lines: OrderLine[];
  total: Money;
  method: PaymentMethodType;
  providerReference: string | null;
  paidAt: string;
}
