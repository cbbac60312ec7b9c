import type { ReservationOutcome } from "../../../lib/contracts/catalog";
import type {
  CancelReason,
  OrderLine,
  OrderStatus,
  PaymentEventPayload,
  PaymentMethodType,
  PaymentStatus,
  ShippingAddress,
} from "../../../lib/contracts/orders";
import { AppError } from "../../../lib/errors";
import { EventTypes } from "../../../lib/messaging/topics";
import {
  commitStock,
  Outgoing,
  orderEvent,
  processPayment,
  refundPayment,
  releaseStock,
  reserveStock,
  returnStock,
} from "./messages";

/**
 * The order aggregate and the checkout saga's decisions, in one place:
 *
 *   PENDING ──StockReserved──▶ AWAITING_PAYMENT ──PaymentSucceeded──▶ CONFIRMED ──ship──▶ SHIPPED ──deliver──▶ DELIVERED
 *      │                           │                                     │
 *      └─────────────┴─────────────┴──────────▶ CANCELLED ◀──────────────┘
 *
 * `decide(order, event)` returns the order after the event, the timeline
 * steps it adds and the messages those steps send; it never does I/O, so
 * every reaction of the saga is testable without a broker. An event that
 * cannot apply to the order's state (an illegal transition, or a stale or
 * repeated message) throws CONFLICT; the caller logs it and, for a message,
 * acknowledges it rather than retrying forever.
 */
export const ORDER_STATUSES: readonly OrderStatus[] = [
  "PENDING",
  "AWAITING_PAYMENT",
  "CONFIRMED",
  "SHIPPED",
  "DELIVERED",
  "CANCELLED",
];

const TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  PENDING: ["AWAITING_PAYMENT", "CANCELLED"],
  AWAITING_PAYMENT: ["CONFIRMED", "CANCELLED"],
  CONFIRMED: ["SHIPPED", "CANCELLED"],
  SHIPPED: ["DELIVERED"],
  DELIVERED: [],
  CANCELLED: [],
};

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function illegalTransition(from: OrderStatus, to: OrderStatus): AppError {
  return AppError.conflict(`A ${from} order cannot become ${to}`, [
    { field: "status", message: `${from} → ${to} is not allowed`, status: from },
  ]);
}

/** What the payments service last told us about the order's payment. */
export interface PaymentSummary {
  id: string;
  status: PaymentStatus;
  providerReference: string | null;
}

/** An order as stored. Amounts are minor units of `currency`; times are epoch milliseconds. */
export interface OrderRecord {
  id: string;
  userId: string;
  status: OrderStatus;
  cancelReason: CancelReason | null;
  currency: string;
  subtotal: number;
  total: number;
  lines: OrderLine[];
  shippingAddress: ShippingAddress;
  paymentMethod: PaymentMethodType;
  payment: PaymentSummary | null;
  cartId: string | null;
  trackingNumber: string | null;
  /** AWAITING_PAYMENT: when the sweeper cancels the order if no payment came. */
  paymentDeadline: number | null;
  /** +1 on every change: the guard of every update. */
  version: number;
  createdAt: number;
  updatedAt: number;
}

/** What the timeline says happened. */
export type SagaStep =
  | "ORDER_CREATED"
  | "STOCK_RESERVATION_REQUESTED"
  | "STOCK_RESERVED"
  | "STOCK_REJECTED"
  | "PAYMENT_REQUESTED"
  | "PAYMENT_PENDING"
  | "PAYMENT_SUCCEEDED"
  | "PAYMENT_FAILED"
  | "ORDER_CONFIRMED"
  | "STOCK_COMMIT_REQUESTED"
  | "STOCK_COMMITTED"
  | "ORDER_CANCELLED"
  | "STOCK_RELEASE_REQUESTED"
  | "STOCK_RELEASED"
  | "STOCK_RETURN_REQUESTED"
  | "STOCK_RETURNED"
  | "REFUND_REQUESTED"
  | "PAYMENT_REFUNDED"
  | "ORDER_SHIPPED"
  | "ORDER_DELIVERED";

export interface TimelineStep {
  step: SagaStep;
  detail?: string;
  /**
   * The message this step sends; its id becomes the step's message id.
   * A step without one records the message being handled, if any.
   */
  send?: Outgoing;
}

export interface Decision {
  /** The order after the event (the same object when nothing changed). */
  order: OrderRecord;
  /** Empty when the event changes nothing (e.g. cancelling a cancelled order). */
  steps: TimelineStep[];
}

/** Everything the saga reacts to: other services' messages, the sweeper, customers and admins. */
export type OrderEvent =
  | { type: typeof EventTypes.StockReserved; outcome: ReservationOutcome }
  | { type: typeof EventTypes.StockRejected; outcome: ReservationOutcome }
  | { type: typeof EventTypes.StockCommitted; outcome: ReservationOutcome }
  | { type: typeof EventTypes.StockReleased; outcome: ReservationOutcome }
  | { type: typeof EventTypes.StockReturned; outcome: ReservationOutcome }
  | { type: typeof EventTypes.PaymentPending; payment: PaymentEventPayload }
  | { type: typeof EventTypes.PaymentSucceeded; payment: PaymentEventPayload }
  | { type: typeof EventTypes.PaymentFailed; payment: PaymentEventPayload }
  | { type: typeof EventTypes.PaymentRefunded; payment: PaymentEventPayload }
  | { type: "PaymentDeadlinePassed" }
  | { type: "CancelRequested" }
  | { type: "StatusChangeRequested"; status: OrderStatus; trackingNumber?: string };

export interface DecisionContext {
  now: number;
  /** ORDER_PAYMENT_TIMEOUT_SEC in milliseconds. */
  paymentTimeoutMs: number;
  /** The card token kept for ProcessPayment until it is sent. */
  paymentToken?: string | null;
}

/** Why the inventory sweeper releases a reservation nobody finished. */
export const RESERVATION_EXPIRED = "EXPIRED";

export function decide(order: OrderRecord, event: OrderEvent, ctx: DecisionContext): Decision {
  switch (event.type) {
    case EventTypes.StockReserved:
      return onStockReserved(order, ctx);
    case EventTypes.StockRejected:
      return onStockRejected(order, event.outcome, ctx);
    case EventTypes.StockReleased:
      return onStockReleased(order, event.outcome, ctx);
    case EventTypes.StockCommitted:
      return record(order, ctx, { step: "STOCK_COMMITTED" });
    case EventTypes.StockReturned:
      return record(order, ctx, { step: "STOCK_RETURNED", detail: event.outcome.reason });
    case EventTypes.PaymentPending:
      return onPaymentPending(order, event.payment, ctx);
    case EventTypes.PaymentSucceeded:
      return onPaymentSucceeded(order, event.payment, ctx);
    case EventTypes.PaymentFailed:
      return onPaymentFailed(order, event.payment, ctx);
    case EventTypes.PaymentRefunded:
      return onPaymentRefunded(order, event.payment, ctx);
    case "PaymentDeadlinePassed":
      return onPaymentDeadline(order, ctx);
    case "CancelRequested":
      return onCancelRequested(order, ctx);
    case "StatusChangeRequested":
      return onStatusChange(order, event.status, event.trackingNumber, ctx);
  }
}

/** A new order: PENDING, announced, and its stock asked for. */
export function placeOrder(order: OrderRecord): Decision {
  return {
    order,
    steps: [
      {
        step: "ORDER_CREATED",
        detail: `${order.total} ${order.currency}`,
        send: orderEvent(EventTypes.OrderCreated, order),
      },
      { step: "STOCK_RESERVATION_REQUESTED", send: reserveStock(order) },
    ],
  };
}

/** PENDING → AWAITING_PAYMENT: the stock is held; charge, and start the payment clock. */
function onStockReserved(order: OrderRecord, ctx: DecisionContext): Decision {
  const next = moveTo(order, "AWAITING_PAYMENT", ctx, {
    paymentDeadline: ctx.now + ctx.paymentTimeoutMs,
  });
  return {
    order: next,
    steps: [
      { step: "STOCK_RESERVED" },
      {
        step: "PAYMENT_REQUESTED",
        detail: `${order.paymentMethod} ${order.total} ${order.currency}`,
        send: processPayment(next, ctx.paymentToken ?? undefined),
      },
    ],
  };
}

/** PENDING → CANCELLED (OUT_OF_STOCK): nothing was reserved, so nothing to give back. */
function onStockRejected(
  order: OrderRecord,
  outcome: ReservationOutcome,
  ctx: DecisionContext,
): Decision {
  if (order.status !== "PENDING") throw notApplicable(order, EventTypes.StockRejected);
  const next = cancel(order, "OUT_OF_STOCK", ctx);
  return {
    order: next,
    steps: [{ step: "STOCK_REJECTED", detail: describeRejection(outcome) }, cancelledStep(next)],
  };
}

/**
 * The answer to our ReleaseStock is only recorded. A release we did not ask
 * for (the reservation expired before the stock was committed) cancels an
 * order that counted on that stock, and refunds whatever was charged.
 */
function onStockReleased(
  order: OrderRecord,
  outcome: ReservationOutcome,
  ctx: DecisionContext,
): Decision {
  const received: TimelineStep = { step: "STOCK_RELEASED", detail: outcome.reason };
  const expired = outcome.reason === RESERVATION_EXPIRED;
  if (!expired || (order.status !== "AWAITING_PAYMENT" && order.status !== "CONFIRMED"))
    return record(order, ctx, received);
  const next = cancel(order, "RESERVATION_EXPIRED", ctx);
  return {
    order: next,
    steps: [received, cancelledStep(next), refundStep(next, "RESERVATION_EXPIRED")],
  };
}

function onPaymentPending(
  order: OrderRecord,
  payment: PaymentEventPayload,
  ctx: DecisionContext,
): Decision {
  // A pending notice that arrives after the outcome is stale.
  if (order.payment && order.payment.status !== "PENDING")
    throw notApplicable(order, EventTypes.PaymentPending);
  return record(
    order,
    ctx,
    { step: "PAYMENT_PENDING", detail: payment.method },
    { payment: paymentSummary(order, payment) },
  );
}

/**
 * AWAITING_PAYMENT → CONFIRMED: commit the stock. Cash on delivery answers
 * AWAITING_COLLECTION, which confirms too. A payment that succeeds for an
 * order already cancelled is refunded (once: a repeat finds it recorded).
 */
function onPaymentSucceeded(
  order: OrderRecord,
  payment: PaymentEventPayload,
  ctx: DecisionContext,
): Decision {
  const received: TimelineStep = { step: "PAYMENT_SUCCEEDED", detail: payment.status };
  if (order.status === "CANCELLED") {
    if (hasSettledPayment(order)) throw notApplicable(order, EventTypes.PaymentSucceeded);
    const next = touch({ ...order, payment: paymentSummary(order, payment) }, ctx);
    return { order: next, steps: [received, refundStep(next, "ORDER_CANCELLED")] };
  }
  if (order.status !== "AWAITING_PAYMENT") throw notApplicable(order, EventTypes.PaymentSucceeded);
  const next = moveTo(order, "CONFIRMED", ctx, {
    payment: paymentSummary(order, payment),
    paymentDeadline: null,
  });
  return {
    order: next,
    steps: [
      received,
      { step: "ORDER_CONFIRMED", send: orderEvent(EventTypes.OrderConfirmed, next) },
      { step: "STOCK_COMMIT_REQUESTED", send: commitStock(next) },
    ],
  };
}

/** AWAITING_PAYMENT → CANCELLED (PAYMENT_DECLINED): give the reserved stock back. */
function onPaymentFailed(
  order: OrderRecord,
  payment: PaymentEventPayload,
  ctx: DecisionContext,
): Decision {
  const received: TimelineStep = {
    step: "PAYMENT_FAILED",
    detail: payment.failureCode ?? payment.status,
  };
  const withPayment = { payment: paymentSummary(order, payment) };
  // The order was cancelled while the charge was being tried: only worth recording.
  const known = order.payment?.status;
  if (order.status === "CANCELLED" && (known === undefined || known === "PENDING"))
    return record(order, ctx, received, withPayment);
  if (order.status !== "AWAITING_PAYMENT") throw notApplicable(order, EventTypes.PaymentFailed);
  const next = cancel({ ...order, ...withPayment }, "PAYMENT_DECLINED", ctx);
  return {
    order: next,
    steps: [received, cancelledStep(next), releaseStep(next, "PAYMENT_FAILED")],
  };
}

function onPaymentRefunded(
  order: OrderRecord,
  payment: PaymentEventPayload,
  ctx: DecisionContext,
): Decision {
  if (order.payment?.status === "REFUNDED") throw notApplicable(order, EventTypes.PaymentRefunded);
  return record(
    order,
    ctx,
    { step: "PAYMENT_REFUNDED", detail: payment.refundId },
    { payment: paymentSummary(order, payment) },
  );
}

/**
 * No payment in time: AWAITING_PAYMENT past its deadline, or PENDING for as
 * long (inventory never answered). Release the stock (inventory keeps a
 * tombstone if the reserve comes later) and, if a charge was asked for,
 * refund whatever the payments service still captures.
 */
function onPaymentDeadline(order: OrderRecord, ctx: DecisionContext): Decision {
  if (!isOverdue(order, ctx.now, ctx.paymentTimeoutMs))
    throw AppError.conflict(`The ${order.status} order ${order.id} is not overdue`, [
      { field: "status", message: "not past its payment deadline", status: order.status },
    ]);
  const next = cancel(order, "PAYMENT_TIMEOUT", ctx);
  const steps = [cancelledStep(next), releaseStep(next, "PAYMENT_TIMEOUT")];
  if (order.status === "AWAITING_PAYMENT") steps.push(refundStep(next, "PAYMENT_TIMEOUT"));
  return { order: next, steps };
}

/**
 * The customer cancels before shipping. What was done so far is undone:
 * reserved stock released, committed stock returned, any charge refunded.
 * Cancelling a cancelled order changes nothing.
 */
function onCancelRequested(order: OrderRecord, ctx: DecisionContext): Decision {
  if (order.status === "CANCELLED") return { order, steps: [] };
  const next = cancel(order, "CUSTOMER_REQUEST", ctx);
  const steps = [cancelledStep(next)];
  if (order.status === "CONFIRMED") {
    steps.push({ step: "STOCK_RETURN_REQUESTED", send: returnStock(next, "ORDER_CANCELLED") });
  } else {
    steps.push(releaseStep(next, "CUSTOMER_REQUEST"));
  }
  if (order.status !== "PENDING") steps.push(refundStep(next, "CUSTOMER_REQUEST"));
  return { order: next, steps };
}

/** Admins ship a confirmed order (with its tracking number) and record its delivery. */
function onStatusChange(
  order: OrderRecord,
  status: OrderStatus,
  trackingNumber: string | undefined,
  ctx: DecisionContext,
): Decision {
  if (status === "SHIPPED") {
    if (!trackingNumber)
      throw AppError.validation("Shipping needs a tracking number", [
        { field: "trackingNumber", message: "is required to mark an order SHIPPED" },
      ]);
    const next = moveTo(order, "SHIPPED", ctx, { trackingNumber });
    return {
      order: next,
      steps: [
        {
          step: "ORDER_SHIPPED",
          detail: trackingNumber,
          send: orderEvent(EventTypes.OrderShipped, next),
        },
      ],
    };
  }
  if (status === "DELIVERED") {
    const next = moveTo(order, "DELIVERED", ctx, {});
    return {
      order: next,
      steps: [{ step: "ORDER_DELIVERED", send: orderEvent(EventTypes.OrderDelivered, next) }],
    };
  }
  throw AppError.conflict(`An order cannot be set to ${status} here`, [
    {
      field: "status",
      message: "only SHIPPED and DELIVERED can be set; cancel with POST /orders/:id/cancel",
      status: order.status,
    },
  ]);
}

/** AWAITING_PAYMENT past its deadline, or PENDING for longer than the payment timeout. */
export function isOverdue(order: OrderRecord, now: number, paymentTimeoutMs: number): boolean {
  if (order.status === "AWAITING_PAYMENT")
    return order.paymentDeadline != null && order.paymentDeadline <= now;
  return order.status === "PENDING" && order.createdAt + paymentTimeoutMs <= now;
}

// ---- steps and state changes

function moveTo(
  order: OrderRecord,
  to: OrderStatus,
  ctx: DecisionContext,
  changes: Partial<OrderRecord>,
): OrderRecord {
  if (!canTransition(order.status, to)) throw illegalTransition(order.status, to);
  return touch({ ...order, ...changes, status: to }, ctx);
}

function cancel(order: OrderRecord, reason: CancelReason, ctx: DecisionContext): OrderRecord {
  return moveTo(order, "CANCELLED", ctx, { cancelReason: reason, paymentDeadline: null });
}

function touch(order: OrderRecord, ctx: DecisionContext): OrderRecord {
  return { ...order, updatedAt: ctx.now };
}

/**
 * A fact that changes no status, only the timeline and what it tells (e.g.
 * the payment). An order it changes nothing in stays as it was, updatedAt
 * and version included: only its saga row moves.
 */
function record(
  order: OrderRecord,
  ctx: DecisionContext,
  step: TimelineStep,
  changes: Partial<OrderRecord> = {},
): Decision {
  const next = { ...order, ...changes };
  return { order: orderChanged(order, next) ? touch(next, ctx) : order, steps: [step] };
}

/** Whether `after` differs from `before` in what events change (the rest is fixed at checkout). */
export function orderChanged(before: OrderRecord, after: OrderRecord): boolean {
  const [was, is] = [before.payment, after.payment];
  return (
    before.status !== after.status ||
    before.cancelReason !== after.cancelReason ||
    before.trackingNumber !== after.trackingNumber ||
    before.paymentDeadline !== after.paymentDeadline ||
    was?.id !== is?.id ||
    was?.status !== is?.status ||
    was?.providerReference !== is?.providerReference
  );
}

function cancelledStep(order: OrderRecord): TimelineStep {
  return {
    step: "ORDER_CANCELLED",
    detail: order.cancelReason ?? undefined,
    send: orderEvent(EventTypes.OrderCancelled, order),
  };
}

function releaseStep(order: OrderRecord, reason: string): TimelineStep {
  return { step: "STOCK_RELEASE_REQUESTED", detail: reason, send: releaseStock(order, reason) };
}

function refundStep(order: OrderRecord, reason: string): TimelineStep {
  return { step: "REFUND_REQUESTED", detail: reason, send: refundPayment(order, reason) };
}

/** The payment has an outcome already (a repeat of it, or a late notice, changes nothing). */
function hasSettledPayment(order: OrderRecord): boolean {
  const status = order.payment?.status;
  return status === "SUCCEEDED" || status === "AWAITING_COLLECTION" || status === "REFUNDED";
}

function paymentSummary(order: OrderRecord, payment: PaymentEventPayload): PaymentSummary {
  return {
    id: payment.paymentId,
    status: payment.status,
    providerReference: payment.providerReference ?? order.payment?.providerReference ?? null,
  };
}

function notApplicable(order: OrderRecord, eventType: string): AppError {
  return AppError.conflict(`${eventType} does not apply to the ${order.status} order ${order.id}`, [
    { field: "status", message: `${eventType} in ${order.status}`, status: order.status },
  ]);
}

function describeRejection(outcome: ReservationOutcome): string {
  const short = (outcome.shortages ?? []).map(
    (s) => `${s.productId}: ${s.requested} requested, ${s.available} available`,
  );
  return [outcome.reason ?? "REJECTED", ...short].join("; ");
}

/** The saga's state beside the order: where the checkout stands. */
export function sagaStateOf(status: OrderStatus): string {
  switch (status) {
    case "PENDING":
      return "RESERVING_STOCK";
    case "AWAITING_PAYMENT":
      return "AWAITING_PAYMENT";
    case "CANCELLED":
      return "CANCELLED";
    default:
      return "COMPLETED";
  }
}
