import type { ReservationOutcome } from "../../../lib/contracts/catalog";
import type { OrderStatus, PaymentEventPayload } from "../../../lib/contracts/orders";
import {
  EventTypes,
  InventoryCommandTypes,
  PaymentCommandTypes,
} from "../../../lib/messaging/topics";
import {
  canTransition,
  decide,
  Decision,
  DecisionContext,
  isOverdue,
  orderChanged,
  ORDER_STATUSES,
  OrderEvent,
  OrderRecord,
  placeOrder,
} from "../../../services/orders/domain/order";
import { orderRecord } from "../../helpers/order-records";

/**
 * The order aggregate and the saga's decisions, without a broker: for each
 * event in each state, the status it leads to, the timeline steps and the
 * messages sent — or the CONFLICT that makes a stale message a no-op.
 */
const NOW = Date.UTC(2026, 0, 10, 12, 0, 0);
const TIMEOUT_MS = 600_000;
const ctx: DecisionContext = { now: NOW, paymentTimeoutMs: TIMEOUT_MS, paymentToken: "tok_visa" };

function order(status: OrderStatus, changes: Partial<OrderRecord> = {}): OrderRecord {
  return orderRecord({
    id: "3f0c1a52-8a0e-4a57-9d0e-0d7f2b1d5a11",
    userId: "9b8f3c1e-1111-4c2d-8e3f-123456789abc",
    status,
    subtotal: 2500,
    total: 2500,
    lines: [
      {
        productId: "p-1",
        sku: "SKU-1",
        name: "Mug",
        quantity: 2,
        unitPrice: { amount: 1250, currency: "EUR" },
        lineTotal: { amount: 2500, currency: "EUR" },
      },
    ],
    paymentDeadline: status === "AWAITING_PAYMENT" ? NOW + 1000 : null,
    version: 3,
    createdAt: NOW - 5000,
    updatedAt: NOW - 5000,
    ...changes,
  });
}

const outcome = (changes: Partial<ReservationOutcome> = {}): ReservationOutcome => ({
  reservationId: order("PENDING").id,
  status: "RESERVED",
  lines: [{ productId: "p-1", quantity: 2 }],
  ...changes,
});

const payment = (changes: Partial<PaymentEventPayload> = {}): PaymentEventPayload => ({
  orderId: order("PENDING").id,
  paymentId: "pay-1",
  userId: order("PENDING").userId,
  status: "SUCCEEDED",
  amount: { amount: 2500, currency: "EUR" },
  method: "card",
  providerReference: "ch_1",
  ...changes,
});

const steps = (d: Decision) => d.steps.map((s) => s.step);
const sent = (d: Decision) => d.steps.filter((s) => s.send).map((s) => s.send!.type);

function expectConflict(fn: () => unknown): void {
  expect(fn).toThrow(expect.objectContaining({ code: 409, type: "CONFLICT" }));
}

describe("order state machine", () => {
  const allowed: [OrderStatus, OrderStatus][] = [
    ["PENDING", "AWAITING_PAYMENT"],
    ["PENDING", "CANCELLED"],
    ["AWAITING_PAYMENT", "CONFIRMED"],
    ["AWAITING_PAYMENT", "CANCELLED"],
    ["CONFIRMED", "SHIPPED"],
    ["CONFIRMED", "CANCELLED"],
    ["SHIPPED", "DELIVERED"],
  ];

  it("allows exactly the transitions of the checkout and cancellation before shipping", () => {
    for (const from of ORDER_STATUSES) {
      for (const to of ORDER_STATUSES) {
        const expected = allowed.some(([f, t]) => f === from && t === to);
        expect([from, to, canTransition(from, to)]).toEqual([from, to, expected]);
      }
    }
  });
});

describe("placing an order", () => {
  it("announces the order and asks inventory to reserve its lines under the order id", () => {
    const placed = order("PENDING", { cartId: "c-1" });
    const decision = placeOrder(placed);
    expect(decision.order).toBe(placed);
    expect(steps(decision)).toEqual(["ORDER_CREATED", "STOCK_RESERVATION_REQUESTED"]);
    expect(decision.steps.map((s) => s.send)).toEqual([
      {
        topic: "orders.events",
        type: EventTypes.OrderCreated,
        payload: {
          orderId: placed.id,
          userId: placed.userId,
          status: "PENDING",
          total: { amount: 2500, currency: "EUR" },
          // As ordered: what notifications list, whatever the catalog says later.
          lines: placed.lines,
          cartId: "c-1",
        },
      },
      {
        topic: "inventory.commands",
        type: InventoryCommandTypes.ReserveStock,
        payload: { reservationId: placed.id, lines: [{ productId: "p-1", quantity: 2 }] },
      },
    ]);
  });
});

describe("saga reactions", () => {
  const react = (status: OrderStatus, event: OrderEvent, changes: Partial<OrderRecord> = {}) =>
    decide(order(status, changes), event, ctx);

  it("StockReserved: PENDING → AWAITING_PAYMENT with a deadline, and asks for the charge", () => {
    const d = react("PENDING", { type: EventTypes.StockReserved, outcome: outcome() });
    expect(d.order).toMatchObject({
      status: "AWAITING_PAYMENT",
      paymentDeadline: NOW + TIMEOUT_MS,
    });
    expect(steps(d)).toEqual(["STOCK_RESERVED", "PAYMENT_REQUESTED"]);
    expect(d.steps[1].send).toEqual({
      topic: "payments.commands",
      type: PaymentCommandTypes.ProcessPayment,
      payload: {
        orderId: d.order.id,
        userId: d.order.userId,
        amount: { amount: 2500, currency: "EUR" },
        method: { type: "card", token: "tok_visa" },
        lines: d.order.lines,
      },
    });
    // Cash on delivery has no token to pass.
    const cod = decide(
      order("PENDING", { paymentMethod: "cash_on_delivery" }),
      { type: EventTypes.StockReserved, outcome: outcome() },
      { ...ctx, paymentToken: null },
    );
    expect(cod.steps[1].send!.payload).toMatchObject({ method: { type: "cash_on_delivery" } });
    expect(JSON.stringify(cod.steps[1].send!.payload)).not.toContain("token");
  });

  it("StockReserved in any other state is refused (a repeat or a late answer)", () => {
    for (const status of ORDER_STATUSES.filter((s) => s !== "PENDING"))
      expectConflict(() => react(status, { type: EventTypes.StockReserved, outcome: outcome() }));
  });

  it("StockRejected: PENDING → CANCELLED (OUT_OF_STOCK), nothing to release", () => {
    const d = react("PENDING", {
      type: EventTypes.StockRejected,
      outcome: outcome({
        status: "REJECTED",
        reason: "OUT_OF_STOCK",
        shortages: [{ productId: "p-1", requested: 2, available: 1 }],
      }),
    });
    expect(d.order).toMatchObject({ status: "CANCELLED", cancelReason: "OUT_OF_STOCK" });
    expect(steps(d)).toEqual(["STOCK_REJECTED", "ORDER_CANCELLED"]);
    expect(d.steps[0].detail).toBe("OUT_OF_STOCK; p-1: 2 requested, 1 available");
    expect(sent(d)).toEqual([EventTypes.OrderCancelled]);
    expect(d.steps[1].send!.payload).toMatchObject({
      status: "CANCELLED",
      cancelReason: "OUT_OF_STOCK",
    });
    for (const status of ORDER_STATUSES.filter((s) => s !== "PENDING"))
      expectConflict(() =>
        react(status, { type: EventTypes.StockRejected, outcome: outcome({ status: "REJECTED" }) }),
      );
  });

  it("PaymentSucceeded: AWAITING_PAYMENT → CONFIRMED, commits the stock and announces it", () => {
    const d = react("AWAITING_PAYMENT", { type: EventTypes.PaymentSucceeded, payment: payment() });
    expect(d.order).toMatchObject({
      status: "CONFIRMED",
      paymentDeadline: null,
      payment: { id: "pay-1", status: "SUCCEEDED", providerReference: "ch_1" },
    });
    expect(steps(d)).toEqual(["PAYMENT_SUCCEEDED", "ORDER_CONFIRMED", "STOCK_COMMIT_REQUESTED"]);
    expect(sent(d)).toEqual([EventTypes.OrderConfirmed, InventoryCommandTypes.CommitStock]);
    expect(d.steps[2].send!.payload).toEqual({ reservationId: d.order.id });
  });

  it("cash on delivery (AWAITING_COLLECTION) confirms the order too", () => {
    const d = react(
      "AWAITING_PAYMENT",
      {
        type: EventTypes.PaymentSucceeded,
        payment: payment({ status: "AWAITING_COLLECTION", method: "cash_on_delivery" }),
      },
      { paymentMethod: "cash_on_delivery" },
    );
    expect(d.order).toMatchObject({
      status: "CONFIRMED",
      payment: { status: "AWAITING_COLLECTION" },
    });
  });

  it("PaymentSucceeded for a cancelled order keeps it cancelled and asks for a refund, once", () => {
    const d = react(
      "CANCELLED",
      { type: EventTypes.PaymentSucceeded, payment: payment() },
      { cancelReason: "PAYMENT_TIMEOUT" },
    );
    expect(d.order).toMatchObject({ status: "CANCELLED", cancelReason: "PAYMENT_TIMEOUT" });
    expect(steps(d)).toEqual(["PAYMENT_SUCCEEDED", "REFUND_REQUESTED"]);
    expect(d.steps[1].send).toEqual({
      topic: "payments.commands",
      type: PaymentCommandTypes.RefundPayment,
      payload: { orderId: d.order.id, reason: "ORDER_CANCELLED" },
    });
    // The same success told again (a new message) finds it recorded.
    expectConflict(() =>
      decide(d.order, { type: EventTypes.PaymentSucceeded, payment: payment() }, ctx),
    );
  });

  it("PaymentSucceeded in PENDING, CONFIRMED, SHIPPED or DELIVERED is refused", () => {
    for (const status of ["PENDING", "CONFIRMED", "SHIPPED", "DELIVERED"] as const)
      expectConflict(() =>
        react(status, { type: EventTypes.PaymentSucceeded, payment: payment() }),
      );
  });

  it("PaymentFailed: AWAITING_PAYMENT → CANCELLED (PAYMENT_DECLINED) and releases the stock", () => {
    const failed = payment({
      status: "FAILED",
      failureCode: "DECLINED",
      providerReference: undefined,
    });
    const d = react("AWAITING_PAYMENT", { type: EventTypes.PaymentFailed, payment: failed });
    expect(d.order).toMatchObject({
      status: "CANCELLED",
      cancelReason: "PAYMENT_DECLINED",
      payment: { status: "FAILED" },
    });
    expect(steps(d)).toEqual(["PAYMENT_FAILED", "ORDER_CANCELLED", "STOCK_RELEASE_REQUESTED"]);
    expect(d.steps[0].detail).toBe("DECLINED");
    expect(d.steps[2].send).toEqual({
      topic: "inventory.commands",
      type: InventoryCommandTypes.ReleaseStock,
      payload: { reservationId: d.order.id, reason: "PAYMENT_FAILED" },
    });
  });

  it("PaymentFailed for an order cancelled meanwhile is only recorded; elsewhere refused", () => {
    const failed = payment({ status: "FAILED", failureCode: "DECLINED" });
    const d = react(
      "CANCELLED",
      { type: EventTypes.PaymentFailed, payment: failed },
      {
        cancelReason: "CUSTOMER_REQUEST",
      },
    );
    expect(d.order).toMatchObject({ status: "CANCELLED", cancelReason: "CUSTOMER_REQUEST" });
    expect(steps(d)).toEqual(["PAYMENT_FAILED"]);
    expect(sent(d)).toEqual([]);
    expectConflict(() => decide(d.order, { type: EventTypes.PaymentFailed, payment: failed }, ctx));
    for (const status of ["PENDING", "CONFIRMED", "SHIPPED", "DELIVERED"] as const)
      expectConflict(() => react(status, { type: EventTypes.PaymentFailed, payment: failed }));
  });

  it("PaymentPending and PaymentRefunded are recorded; stale or repeated ones refused", () => {
    const pending = react("AWAITING_PAYMENT", {
      type: EventTypes.PaymentPending,
      payment: payment({ status: "PENDING", providerReference: undefined }),
    });
    expect(pending.order).toMatchObject({
      status: "AWAITING_PAYMENT",
      payment: { status: "PENDING" },
    });
    expect(steps(pending)).toEqual(["PAYMENT_PENDING"]);
    expectConflict(() =>
      react(
        "CONFIRMED",
        { type: EventTypes.PaymentPending, payment: payment({ status: "PENDING" }) },
        { payment: { id: "pay-1", status: "SUCCEEDED", providerReference: null } },
      ),
    );

    const refunded = react(
      "CANCELLED",
      {
        type: EventTypes.PaymentRefunded,
        payment: payment({ status: "REFUNDED", refundId: "re_1" }),
      },
      { payment: { id: "pay-1", status: "SUCCEEDED", providerReference: "ch_1" } },
    );
    expect(refunded.order.payment).toEqual({
      id: "pay-1",
      status: "REFUNDED",
      providerReference: "ch_1",
    });
    expect(steps(refunded)).toEqual(["PAYMENT_REFUNDED"]);
    expect(refunded.steps[0].detail).toBe("re_1");
    expectConflict(() =>
      decide(
        refunded.order,
        { type: EventTypes.PaymentRefunded, payment: payment({ status: "REFUNDED" }) },
        ctx,
      ),
    );
  });

  it("StockCommitted, StockReturned and an asked-for StockReleased are recorded only", () => {
    for (const [type, step] of [
      [EventTypes.StockCommitted, "STOCK_COMMITTED"],
      [EventTypes.StockReturned, "STOCK_RETURNED"],
      [EventTypes.StockReleased, "STOCK_RELEASED"],
    ] as const) {
      const d = react("CANCELLED", {
        type,
        outcome: outcome({ reason: "PAYMENT_FAILED" }),
      } as OrderEvent);
      expect(d.order.status).toBe("CANCELLED");
      expect(steps(d)).toEqual([step]);
      expect(sent(d)).toEqual([]);
      // Nothing in the order changed: it stays as it was, updatedAt included.
      expect(d.order).toEqual(order("CANCELLED"));
      expect(orderChanged(order("CANCELLED"), d.order)).toBe(false);
    }
  });

  it("a recorded fact that changes the payment moves the order's updatedAt; one that changes nothing does not", () => {
    const before = order("CANCELLED");
    const failed = react("CANCELLED", {
      type: EventTypes.PaymentFailed,
      payment: payment({ status: "FAILED", failureCode: "card_declined" }),
    });
    expect(orderChanged(before, failed.order)).toBe(true);
    expect(failed.order.updatedAt).toBe(NOW);

    const committed = decide(
      failed.order,
      { type: EventTypes.StockCommitted, outcome: outcome() },
      {
        ...ctx,
        now: NOW + 1000,
      },
    );
    expect(committed.order).toBe(failed.order);
    expect(orderChanged(failed.order, committed.order)).toBe(false);
  });

  it("a reservation that expired before its commit cancels the order (RESERVATION_EXPIRED) and refunds", () => {
    for (const status of ["AWAITING_PAYMENT", "CONFIRMED"] as const) {
      const d = react(status, {
        type: EventTypes.StockReleased,
        outcome: outcome({ status: "RELEASED", reason: "EXPIRED" }),
      });
      expect(d.order).toMatchObject({ status: "CANCELLED", cancelReason: "RESERVATION_EXPIRED" });
      expect(steps(d)).toEqual(["STOCK_RELEASED", "ORDER_CANCELLED", "REFUND_REQUESTED"]);
      expect(sent(d)).toEqual([EventTypes.OrderCancelled, PaymentCommandTypes.RefundPayment]);
    }
  });
});

describe("payment deadline", () => {
  const timeout = { type: "PaymentDeadlinePassed" } as const;

  it("cancels an AWAITING_PAYMENT order past its deadline: release, refund, announce", () => {
    const d = decide(order("AWAITING_PAYMENT", { paymentDeadline: NOW }), timeout, ctx);
    expect(d.order).toMatchObject({
      status: "CANCELLED",
      cancelReason: "PAYMENT_TIMEOUT",
      paymentDeadline: null,
    });
    expect(steps(d)).toEqual(["ORDER_CANCELLED", "STOCK_RELEASE_REQUESTED", "REFUND_REQUESTED"]);
    expect(sent(d)).toEqual([
      EventTypes.OrderCancelled,
      InventoryCommandTypes.ReleaseStock,
      PaymentCommandTypes.RefundPayment,
    ]);
  });

  it("cancels a PENDING order inventory never answered, without a refund (no charge was asked)", () => {
    const d = decide(order("PENDING", { createdAt: NOW - TIMEOUT_MS }), timeout, ctx);
    expect(d.order).toMatchObject({ status: "CANCELLED", cancelReason: "PAYMENT_TIMEOUT" });
    expect(sent(d)).toEqual([EventTypes.OrderCancelled, InventoryCommandTypes.ReleaseStock]);
  });

  it("refuses an order that is not overdue (a payment or another node got there first)", () => {
    expect(
      isOverdue(order("AWAITING_PAYMENT", { paymentDeadline: NOW + 1 }), NOW, TIMEOUT_MS),
    ).toBe(false);
    expect(isOverdue(order("PENDING", { createdAt: NOW - TIMEOUT_MS + 1 }), NOW, TIMEOUT_MS)).toBe(
      false,
    );
    expectConflict(() =>
      decide(order("AWAITING_PAYMENT", { paymentDeadline: NOW + 1 }), timeout, ctx),
    );
    for (const status of ["CONFIRMED", "CANCELLED", "SHIPPED", "DELIVERED"] as const)
      expectConflict(() => decide(order(status, { paymentDeadline: NOW - 1 }), timeout, ctx));
  });
});

describe("customer cancel", () => {
  const cancel = { type: "CancelRequested" } as const;

  it("PENDING: cancelled, stock released (inventory keeps a tombstone), no refund", () => {
    const d = decide(order("PENDING"), cancel, ctx);
    expect(d.order).toMatchObject({ status: "CANCELLED", cancelReason: "CUSTOMER_REQUEST" });
    expect(sent(d)).toEqual([EventTypes.OrderCancelled, InventoryCommandTypes.ReleaseStock]);
  });

  it("AWAITING_PAYMENT: stock released and whatever gets charged refunded", () => {
    const d = decide(order("AWAITING_PAYMENT"), cancel, ctx);
    expect(sent(d)).toEqual([
      EventTypes.OrderCancelled,
      InventoryCommandTypes.ReleaseStock,
      PaymentCommandTypes.RefundPayment,
    ]);
  });

  it("CONFIRMED: committed stock returned and the payment refunded", () => {
    const d = decide(order("CONFIRMED"), cancel, ctx);
    expect(steps(d)).toEqual(["ORDER_CANCELLED", "STOCK_RETURN_REQUESTED", "REFUND_REQUESTED"]);
    expect(d.steps[1].send).toEqual({
      topic: "inventory.commands",
      type: InventoryCommandTypes.ReturnStock,
      payload: { reservationId: d.order.id, reason: "ORDER_CANCELLED" },
    });
  });

  it("a cancelled order stays as it is; a shipped or delivered one cannot be cancelled", () => {
    const cancelled = order("CANCELLED", { cancelReason: "OUT_OF_STOCK" });
    const d = decide(cancelled, cancel, ctx);
    expect(d).toEqual({ order: cancelled, steps: [] });
    expectConflict(() => decide(order("SHIPPED"), cancel, ctx));
    expectConflict(() => decide(order("DELIVERED"), cancel, ctx));
  });
});

describe("shipping and delivery", () => {
  const set = (status: OrderStatus, trackingNumber?: string) =>
    ({ type: "StatusChangeRequested", status, trackingNumber }) as const;

  it("ships a confirmed order with its tracking number, then delivers it", () => {
    const shipped = decide(order("CONFIRMED"), set("SHIPPED", "1Z999"), ctx);
    expect(shipped.order).toMatchObject({ status: "SHIPPED", trackingNumber: "1Z999" });
    expect(shipped.steps[0].send).toMatchObject({
      topic: "orders.events",
      type: EventTypes.OrderShipped,
      payload: { status: "SHIPPED", trackingNumber: "1Z999" },
    });
    const delivered = decide(shipped.order, set("DELIVERED"), ctx);
    expect(delivered.order.status).toBe("DELIVERED");
    expect(sent(delivered)).toEqual([EventTypes.OrderDelivered]);
  });

  it("needs a tracking number to ship (400), and refuses every other change (409)", () => {
    expect(() => decide(order("CONFIRMED"), set("SHIPPED"), ctx)).toThrow(
      expect.objectContaining({
        code: 400,
        data: { details: [expect.objectContaining({ field: "trackingNumber" })] },
      }),
    );
    for (const status of [
      "PENDING",
      "AWAITING_PAYMENT",
      "SHIPPED",
      "DELIVERED",
      "CANCELLED",
    ] as const)
      expectConflict(() => decide(order(status), set("SHIPPED", "1Z"), ctx));
    for (const status of [
      "PENDING",
      "AWAITING_PAYMENT",
      "CONFIRMED",
      "DELIVERED",
      "CANCELLED",
    ] as const)
      expectConflict(() => decide(order(status), set("DELIVERED"), ctx));
    for (const target of ["PENDING", "AWAITING_PAYMENT", "CONFIRMED", "CANCELLED"] as const)
      expectConflict(() => decide(order("CONFIRMED"), set(target), ctx));
  });
});
