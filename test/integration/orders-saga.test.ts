import { generateKeyPairSync, randomUUID } from "node:crypto";
import type { Middleware, ServiceBroker, ServiceSchema } from "moleculer";
import { ServiceBroker as Broker } from "moleculer";
import { QueryTypes } from "sequelize";
import { buildBrokerOptions } from "../../lib/broker";
import type { ProductSnapshot, ReservationOutcome, StockLevel } from "../../lib/contracts/catalog";
import type { OrderEventPayload } from "../../lib/contracts/orders";
import { loadConfig } from "../../lib/config";
import type { RelationalDatabase } from "../../lib/infra/relational";
import { durableChannel } from "../../lib/messaging/channel";
import type { MessageEnvelope } from "../../lib/messaging/envelope";
import { EventTypes, InventoryCommandTypes, Topics } from "../../lib/messaging/topics";
import CatalogService from "../../services/catalog/catalog.service";
import InventoryService from "../../services/inventory/inventory.service";
import type { OrderView } from "../../services/orders/domain/order-view";
import OrdersService from "../../services/orders/orders.service";
import UsersService from "../../services/users/users.service";
import { cleanUpChannels } from "../helpers/channels";
import { paymentsStandIn, SILENT_TOKEN, DECLINING_TOKEN } from "../helpers/payments-stand-in";
import { withRealServers } from "../helpers/platform";
import { adaptersFor, servers, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The checkout saga on a real broker: the orders service with the real
 * catalog, inventory and users services, and a scripted stand-in for the
 * payments service (test/helpers/payments-stand-in.ts) — embedded (SQLite,
 * in-process channels) and on MariaDB + Redis with channels on Redis
 * Streams. Each test places orders of its own products and follows them
 * through the messages to their end state, reading stock from inventory.
 */
const available = adaptersFor("mysql", "redis");
const modes =
  available.includes("mysql") && available.includes("redis")
    ? ["embedded", "mariadb+redis"]
    : ["embedded"];

const PAYMENT_TIMEOUT_SEC = 3;
const ADDRESS = {
  name: "Sam Shopper",
  line1: "1 Main Street",
  city: "Berlin",
  postalCode: "10115",
  country: "DE",
};

/**
 * Sees every message a consumer group finished with, and can hold inventory's
 * ReserveStock commands (inventory slow to answer) until released.
 */
function channelTap() {
  const handled: { group: string; envelope: MessageEnvelope }[] = [];
  let gate: Promise<void> | undefined;
  let open = () => {};
  const middleware = {
    name: "ChannelTap",
    localChannel(next: (ctx: unknown, raw: unknown) => Promise<unknown>, chan: { group: string }) {
      return async (ctx: { params: MessageEnvelope }, raw: unknown) => {
        if (chan.group === "inventory" && ctx.params.type === InventoryCommandTypes.ReserveStock)
          await gate;
        const result = await next(ctx, raw);
        handled.push({ group: chan.group, envelope: ctx.params });
        return result;
      };
    },
  };
  return {
    middleware: middleware as unknown as Middleware,
    handled,
    holdReservations() {
      gate = new Promise((resolve) => (open = resolve));
    },
    releaseReservations() {
      open();
      gate = undefined;
    },
    /** Times the orders service finished handling this message. */
    timesHandled: (messageId: string) =>
      handled.filter((h) => h.group === "orders" && h.envelope.id === messageId).length,
  };
}

/** Consumes what the saga's partners publish, to check messages and redeliver them. */
function eventsProbe() {
  const orderEvents: MessageEnvelope<OrderEventPayload>[] = [];
  const inventoryEvents: MessageEnvelope<ReservationOutcome>[] = [];
  const service: ServiceSchema = {
    name: "saga-probe",
    channels: {
      [Topics.OrdersEvents]: durableChannel<OrderEventPayload>(Topics.OrdersEvents, {
        group: "saga-probe",
        handler(envelope) {
          orderEvents.push(envelope);
        },
      }),
      [Topics.InventoryEvents]: durableChannel<ReservationOutcome>(Topics.InventoryEvents, {
        group: "saga-probe",
        handler(envelope) {
          inventoryEvents.push(envelope);
        },
      }),
    },
  };
  return { service, orderEvents, inventoryEvents };
}

describe.each(modes)("checkout saga (%s)", (mode) => {
  const prefix = uniqueName("saga");
  const real = mode === "embedded" ? undefined : withRealServers("mysql", "redis");
  const payments = paymentsStandIn();
  const tap = channelTap();
  const probe = eventsProbe();
  let broker: ServiceBroker;
  let categoryId: string;

  beforeAll(async () => {
    const env: Record<string, string> = {
      NODE_ENV: "test",
      LOG_LEVEL: "error",
      NODE_ID: uniqueName("node"),
      SQLITE_STORAGE: ":memory:",
      JWT_PRIVATE_KEY: generateKeyPairSync("ec", { namedCurve: "P-256" })
        .privateKey.export({ type: "pkcs8", format: "pem" })
        .toString(),
      CHANNELS_PREFIX: prefix,
      CHANNELS_POLL_INTERVAL_MS: "100",
      ORDER_PAYMENT_TIMEOUT_SEC: String(PAYMENT_TIMEOUT_SEC),
      RESERVATION_SWEEP_INTERVAL_MS: "0",
      OUTBOX_SWEEP_INTERVAL_MS: "200",
      OUTBOX_SWEEP_AGE_MS: "1000",
      ...(real ? { ...real.env, CHANNELS_URL: servers.redis! } : {}),
    };
    const options = buildBrokerOptions(loadConfig(env));
    options.middlewares = [...(options.middlewares ?? []), tap.middleware];
    broker = new Broker(options);
    for (const schema of [
      { mixins: [OrdersService], settings: { overdueSweepIntervalMs: 200 } },
      CatalogService,
      InventoryService,
      UsersService,
      payments.service,
      probe.service,
    ])
      broker.createService(schema as ServiceSchema);
    await broker.start();
    const category = await broker.call<{ id: string }, object>("catalog.createCategory", {
      name: `Category ${uniqueName("c")}`,
    });
    categoryId = category.id;
  });

  afterAll(async () => {
    tap.releaseReservations();
    await broker?.stop();
    await real?.cleanup();
    if (real) await cleanUpChannels("redis", prefix);
  });

  // ---- helpers

  async function newProduct(onHand: number, amount = 1250): Promise<string> {
    const product = await broker.call<ProductSnapshot, object>("catalog.createProduct", {
      sku: uniqueName("SKU").replace(/_/g, "-"),
      name: `Product ${uniqueName("p")}`,
      description: "Something to order.",
      brand: "Acme",
      categoryId,
      price: { amount, currency: "EUR" },
      status: "active",
    });
    await broker.call("inventory.setStockBulk", { levels: [{ productId: product.id, onHand }] });
    return product.id;
  }

  const level = async (productId: string) =>
    (await broker.call<StockLevel[], object>("inventory.levels", { productIds: [productId] }))[0];

  interface Customer {
    id: string;
    role: "customer" | "admin";
  }
  const customer = (): Customer => ({ id: randomUUID(), role: "customer" });

  function place(user: Customer, body: object, key = randomUUID()): Promise<OrderView> {
    return broker.call<OrderView, object>("orders.placeOrder", body, {
      meta: { user, idempotencyKey: key },
    });
  }

  const order = (user: Customer, id: string) =>
    broker.call<OrderView, object>("orders.getOrder", { id }, { meta: { user } });

  /** Waits until the order reaches `status` (and whatever else `check` wants), and returns it. */
  function settled(user: Customer, id: string, status: string, check?: (o: OrderView) => boolean) {
    return waitFor(
      async () => {
        const current = await order(user, id);
        return current.status === status && (!check || check(current)) ? current : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 25 },
    );
  }

  const steps = (o: OrderView): string[] => o.timeline.map((s) => s.step);
  const hasStep = (step: string) => (o: OrderView) => steps(o).includes(step);

  const orderEventsOf = (orderId: string) =>
    probe.orderEvents.filter((e) => e.aggregateId === orderId).map((e) => e.type);

  const ordersDb = () =>
    (broker.getLocalService("orders") as unknown as { db: RelationalDatabase }).db;

  async function outboxRows(orderId: string): Promise<number> {
    const [row] = await ordersDb().sequelize.query<{ n: number | string }>(
      "SELECT COUNT(*) AS n FROM outbox_events WHERE aggregate_id = ?",
      { replacements: [orderId], type: QueryTypes.SELECT },
    );
    return Number(row.n);
  }

  const card = (token = "tok_visa") => ({ type: "card", token });

  // ---- the saga

  it("confirms a paid order, commits its stock, and records every step with its message", async () => {
    const user = customer();
    const productId = await newProduct(5);
    const placed = await place(user, {
      lines: [{ productId, quantity: 2 }],
      shippingAddress: ADDRESS,
      paymentMethod: card(),
    });
    expect(placed).toMatchObject({ status: "PENDING", total: { amount: 2500, currency: "EUR" } });

    const confirmed = await settled(user, placed.id, "CONFIRMED", hasStep("STOCK_COMMITTED"));
    expect(confirmed).toMatchObject({
      cancelReason: null,
      payment: {
        id: `pay_${placed.id}`,
        status: "SUCCEEDED",
        providerReference: `ch_${placed.id}`,
      },
      paymentMethod: { type: "card" },
    });
    expect(steps(confirmed)).toEqual([
      "ORDER_CREATED",
      "STOCK_RESERVATION_REQUESTED",
      "STOCK_RESERVED",
      "PAYMENT_REQUESTED",
      "PAYMENT_SUCCEEDED",
      "ORDER_CONFIRMED",
      "STOCK_COMMIT_REQUESTED",
      "STOCK_COMMITTED",
    ]);
    // Recording the stock commit changed nothing in the order row: it keeps the time it was confirmed.
    expect(confirmed.updatedAt).toBe(confirmed.timeline[5].at);
    const [created, reserveAsked, reserved, payAsked, paid] = confirmed.timeline;
    for (const step of confirmed.timeline) expect(step.messageId).toEqual(expect.any(String));
    // Each answer names the command it answers; the whole saga shares one correlation.
    expect(reserved.causationId).toBe(reserveAsked.messageId);
    expect(paid.causationId).toBe(payAsked.messageId);
    expect(new Set(confirmed.timeline.map((s) => s.correlationId)).size).toBe(1);
    expect(created.correlationId).toEqual(expect.any(String));

    expect(await level(productId)).toMatchObject({ onHand: 3, reserved: 0, available: 3 });
    const [charge] = payments.chargesFor(placed.id);
    expect(charge.envelope.payload).toMatchObject({
      orderId: placed.id,
      userId: user.id,
      amount: { amount: 2500, currency: "EUR" },
      method: { type: "card", token: "tok_visa" },
      lines: [
        expect.objectContaining({
          productId,
          quantity: 2,
          unitPrice: { amount: 1250, currency: "EUR" },
        }),
      ],
    });
    await waitFor(() => orderEventsOf(placed.id).length === 2);
    expect(orderEventsOf(placed.id)).toEqual([EventTypes.OrderCreated, EventTypes.OrderConfirmed]);
    // The events tell the lines as ordered: what notifications list for the customer.
    const announced = probe.orderEvents.find(
      (e) => e.aggregateId === placed.id && e.type === EventTypes.OrderConfirmed,
    )!;
    expect(announced.payload.lines).toEqual([
      {
        productId,
        sku: expect.any(String),
        name: expect.any(String),
        quantity: 2,
        unitPrice: { amount: 1250, currency: "EUR" },
        lineTotal: { amount: 2500, currency: "EUR" },
      },
    ]);
  });

  it("cancels a declined order (PAYMENT_DECLINED) and releases its stock", async () => {
    const user = customer();
    const productId = await newProduct(4);
    const placed = await place(user, {
      lines: [{ productId, quantity: 3 }],
      shippingAddress: ADDRESS,
      paymentMethod: card(DECLINING_TOKEN),
    });
    const cancelled = await settled(user, placed.id, "CANCELLED", hasStep("STOCK_RELEASED"));
    expect(cancelled).toMatchObject({
      cancelReason: "PAYMENT_DECLINED",
      payment: { status: "FAILED" },
    });
    expect(steps(cancelled)).toEqual(
      expect.arrayContaining(["PAYMENT_FAILED", "ORDER_CANCELLED", "STOCK_RELEASE_REQUESTED"]),
    );
    expect(await level(productId)).toMatchObject({ onHand: 4, reserved: 0, available: 4 });
    await waitFor(() => orderEventsOf(placed.id).includes(EventTypes.OrderCancelled));
  });

  it("cancels an order it cannot stock (OUT_OF_STOCK) without asking for a payment", async () => {
    const user = customer();
    const productId = await newProduct(1);
    const placed = await place(user, {
      lines: [{ productId, quantity: 2 }],
      shippingAddress: ADDRESS,
      paymentMethod: card(),
    });
    const cancelled = await settled(user, placed.id, "CANCELLED");
    expect(cancelled.cancelReason).toBe("OUT_OF_STOCK");
    expect(steps(cancelled)).toEqual([
      "ORDER_CREATED",
      "STOCK_RESERVATION_REQUESTED",
      "STOCK_REJECTED",
      "ORDER_CANCELLED",
    ]);
    expect(cancelled.timeline[2].detail).toContain("1 available");
    expect(payments.chargesFor(placed.id)).toEqual([]);
    expect(await level(productId)).toMatchObject({ onHand: 1, reserved: 0 });
  });

  it("cancels an unpaid order after the payment timeout, and refunds a payment that succeeds later, once", async () => {
    const user = customer();
    const productId = await newProduct(2);
    const placed = await place(user, {
      lines: [{ productId, quantity: 2 }],
      shippingAddress: ADDRESS,
      paymentMethod: card(SILENT_TOKEN),
    });
    const waiting = await settled(user, placed.id, "AWAITING_PAYMENT");
    expect(Date.parse(waiting.paymentDeadline!) - Date.parse(waiting.updatedAt)).toBe(
      PAYMENT_TIMEOUT_SEC * 1000,
    );
    expect(await level(productId)).toMatchObject({ reserved: 2, available: 0 });

    const timedOut = await settled(user, placed.id, "CANCELLED", hasStep("STOCK_RELEASED"));
    expect(timedOut.cancelReason).toBe("PAYMENT_TIMEOUT");
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(waiting.paymentDeadline!));
    expect(await level(productId)).toMatchObject({ onHand: 2, reserved: 0, available: 2 });
    // Payments is told to refund whatever it may still capture.
    await waitFor(() => payments.refundsFor(placed.id).length === 1);

    // The provider answers after all, and that answer is delivered twice.
    const late = await payments.answer(placed.id, "succeed");
    await payments.redeliver(late);
    await waitFor(() => tap.timesHandled(late.id) === 2, { timeoutMs: 10_000 });
    const refunded = await settled(user, placed.id, "CANCELLED", hasStep("PAYMENT_REFUNDED"));
    expect(refunded.cancelReason).toBe("PAYMENT_TIMEOUT");
    const causedByLate = payments
      .refundsFor(placed.id)
      .filter((r) => r.headers.causationId === late.id);
    expect(causedByLate).toHaveLength(1);
    expect(payments.refundsFor(placed.id)).toHaveLength(2);
    expect(steps(refunded).filter((s) => s === "PAYMENT_SUCCEEDED")).toHaveLength(1);
    expect(refunded.payment).toMatchObject({ status: "REFUNDED" });
    expect(await level(productId)).toMatchObject({ onHand: 2, reserved: 0 });
  });

  it("changes nothing when inventory and payment events are delivered again", async () => {
    const user = customer();
    const productId = await newProduct(3);
    const placed = await place(user, {
      lines: [{ productId, quantity: 1 }],
      shippingAddress: ADDRESS,
      paymentMethod: card(),
    });
    const confirmed = await settled(user, placed.id, "CONFIRMED", hasStep("STOCK_COMMITTED"));
    const rows = await outboxRows(placed.id);
    const reservedEvent = await waitFor(() =>
      probe.inventoryEvents.find(
        (e) => e.aggregateId === placed.id && e.type === EventTypes.StockReserved,
      ),
    );
    const paidStep = confirmed.timeline.find((s) => s.step === "PAYMENT_SUCCEEDED")!;

    // The same messages again (same ids), as a redelivering channel would.
    await broker.sendToChannel(Topics.InventoryEvents, reservedEvent, { key: placed.id });
    const paid = tap.handled.find((h) => h.envelope.id === paidStep.messageId)!;
    await payments.redeliver(paid.envelope as MessageEnvelope<never>);
    await waitFor(() => tap.timesHandled(reservedEvent.id) === 2, { timeoutMs: 10_000 });
    await waitFor(() => tap.timesHandled(paidStep.messageId!) === 2, { timeoutMs: 10_000 });

    expect(await order(user, placed.id)).toEqual(confirmed);
    expect(await outboxRows(placed.id)).toBe(rows);
    expect(payments.chargesFor(placed.id)).toHaveLength(1);
    expect(await level(productId)).toMatchObject({ onHand: 2, reserved: 0 });
  });

  it("lets a customer cancel before shipping, undoing what each state did", async () => {
    const user = customer();
    const productId = await newProduct(10);
    const cancel = (id: string, who: Customer = user) =>
      broker.call<OrderView, object>("orders.cancelOrder", { id }, { meta: { user: who } });
    const body = (token: string) => ({
      lines: [{ productId, quantity: 1 }],
      shippingAddress: ADDRESS,
      paymentMethod: card(token),
    });

    // PENDING: inventory has not answered yet.
    tap.holdReservations();
    const pending = await place(user, body("tok_visa"));
    expect((await order(user, pending.id)).status).toBe("PENDING");
    const cancelledPending = await cancel(pending.id);
    expect(cancelledPending).toMatchObject({
      status: "CANCELLED",
      cancelReason: "CUSTOMER_REQUEST",
    });
    expect(steps(cancelledPending).slice(-2)).toEqual([
      "ORDER_CANCELLED",
      "STOCK_RELEASE_REQUESTED",
    ]);
    tap.releaseReservations();

    // AWAITING_PAYMENT: stock released, and whatever gets charged refunded.
    const awaiting = await place(user, body(SILENT_TOKEN));
    await settled(user, awaiting.id, "AWAITING_PAYMENT");
    const cancelledAwaiting = await cancel(awaiting.id);
    expect(steps(cancelledAwaiting).slice(-3)).toEqual([
      "ORDER_CANCELLED",
      "STOCK_RELEASE_REQUESTED",
      "REFUND_REQUESTED",
    ]);

    // CONFIRMED: committed stock comes back on hand, the payment is refunded.
    const confirmed = await place(user, body("tok_visa"));
    await settled(user, confirmed.id, "CONFIRMED", hasStep("STOCK_COMMITTED"));
    const cancelledConfirmed = await cancel(confirmed.id);
    expect(steps(cancelledConfirmed).slice(-3)).toEqual([
      "ORDER_CANCELLED",
      "STOCK_RETURN_REQUESTED",
      "REFUND_REQUESTED",
    ]);
    const settledConfirmed = await settled(
      user,
      confirmed.id,
      "CANCELLED",
      (o) => hasStep("STOCK_RETURNED")(o) && hasStep("PAYMENT_REFUNDED")(o),
    );
    expect(settledConfirmed.payment).toMatchObject({ status: "REFUNDED" });

    // Every unit is back, whatever order inventory saw the commands in.
    await settled(user, pending.id, "CANCELLED");
    await waitFor(async () => {
      expect(await level(productId)).toMatchObject({ onHand: 10, reserved: 0, available: 10 });
      return true;
    });
    expect(payments.chargesFor(pending.id)).toEqual([]);

    // Cancelling again answers the order as it is; another user's order does not exist.
    const again = await cancel(confirmed.id);
    expect(again.timeline).toHaveLength((await order(user, confirmed.id)).timeline.length);
    expect(again.status).toBe("CANCELLED");
    await expect(cancel(confirmed.id, customer())).rejects.toMatchObject({ code: 404 });
  });

  it("ships a confirmed order with its tracking number and delivers it; shipped orders cannot be cancelled", async () => {
    const user = customer();
    const admin: Customer = { id: randomUUID(), role: "admin" };
    const productId = await newProduct(3);
    const placed = await place(user, {
      lines: [{ productId, quantity: 1 }],
      shippingAddress: ADDRESS,
      paymentMethod: { type: "cash_on_delivery" },
    });
    const confirmed = await settled(user, placed.id, "CONFIRMED", hasStep("STOCK_COMMITTED"));
    expect(confirmed.payment).toMatchObject({ status: "AWAITING_COLLECTION" });
    const setStatus = (params: object) =>
      broker.call<OrderView, object>(
        "orders.setOrderStatus",
        { id: placed.id, ...params },
        { meta: { user: admin } },
      );

    await expect(setStatus({ status: "DELIVERED" })).rejects.toMatchObject({ code: 409 });
    await expect(setStatus({ status: "SHIPPED" })).rejects.toMatchObject({ code: 400 });
    const shipped = await setStatus({ status: "SHIPPED", trackingNumber: "1Z999AA10123456784" });
    expect(shipped).toMatchObject({ status: "SHIPPED", trackingNumber: "1Z999AA10123456784" });
    await expect(
      broker.call("orders.cancelOrder", { id: placed.id }, { meta: { user } }),
    ).rejects.toMatchObject({ code: 409 });
    const delivered = await setStatus({ status: "DELIVERED" });
    expect(delivered.status).toBe("DELIVERED");
    expect(steps(delivered).slice(-2)).toEqual(["ORDER_SHIPPED", "ORDER_DELIVERED"]);

    await waitFor(() => orderEventsOf(placed.id).includes(EventTypes.OrderDelivered));
    expect(orderEventsOf(placed.id)).toEqual([
      EventTypes.OrderCreated,
      EventTypes.OrderConfirmed,
      EventTypes.OrderShipped,
      EventTypes.OrderDelivered,
    ]);
    const shippedEvent = probe.orderEvents.find(
      (e) => e.aggregateId === placed.id && e.type === EventTypes.OrderShipped,
    )!;
    expect(shippedEvent.payload).toMatchObject({
      status: "SHIPPED",
      trackingNumber: "1Z999AA10123456784",
    });
  });

  it("never oversells: 3 units, 10 concurrent orders → 3 confirmed, 7 out of stock", async () => {
    const productId = await newProduct(3);
    const users = Array.from({ length: 10 }, customer);
    const placed = await Promise.all(
      users.map((user) =>
        place(user, {
          lines: [{ productId, quantity: 1 }],
          shippingAddress: ADDRESS,
          paymentMethod: card(),
        }),
      ),
    );
    const levels: StockLevel[] = [];
    const final = await waitFor(
      async () => {
        levels.push(await level(productId));
        const orders = await Promise.all(placed.map((o, i) => order(users[i], o.id)));
        const done = orders.every(
          (o) =>
            (o.status === "CONFIRMED" && hasStep("STOCK_COMMITTED")(o)) || o.status === "CANCELLED",
        );
        return done ? orders : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    expect(final.filter((o) => o.status === "CONFIRMED")).toHaveLength(3);
    const cancelled = final.filter((o) => o.status === "CANCELLED");
    expect(cancelled).toHaveLength(7);
    expect(cancelled.every((o) => o.cancelReason === "OUT_OF_STOCK")).toBe(true);
    for (const l of levels) {
      expect(l.onHand).toBeGreaterThanOrEqual(0);
      expect(l.available).toBeGreaterThanOrEqual(0);
      expect(l.reserved).toBeLessThanOrEqual(l.onHand);
    }
    expect(await level(productId)).toMatchObject({ onHand: 0, reserved: 0, available: 0 });
  });

  it("ships to a saved address of the user's, and refuses one that is not theirs", async () => {
    const registered = await broker.call<{ id: string }, object>("users.register", {
      email: `${uniqueName("buyer")}@example.com`,
      password: "correct horse battery staple",
      name: "Robin Buyer",
    });
    const user: Customer = { id: registered.id, role: "customer" };
    const address = await broker.call<{ id: string }, object>(
      "users.createAddress",
      { ...ADDRESS, line2: "Flat 2", country: "de" },
      { meta: { user } },
    );
    const productId = await newProduct(2);
    const body = (shippingAddressId: string) => ({
      lines: [{ productId, quantity: 1 }],
      shippingAddressId,
      paymentMethod: card(),
    });
    const placed = await place(user, body(address.id));
    expect(placed.shippingAddress).toEqual({ ...ADDRESS, line2: "Flat 2" });
    await expect(place(customer(), body(address.id))).rejects.toMatchObject({
      code: 400,
      data: { details: [expect.objectContaining({ field: "shippingAddressId" })] },
    });
    await settled(user, placed.id, "CONFIRMED");
  });
});
