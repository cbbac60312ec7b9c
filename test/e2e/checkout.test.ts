import { randomBytes, randomUUID } from "node:crypto";
import Redis from "ioredis";
import { QueryTypes } from "sequelize";
import type { StockLevel } from "../../lib/contracts/catalog";
import type { CartView } from "../../lib/contracts/cart";
import type { Receipt } from "../../lib/contracts/orders";
import type { RelationalDatabase } from "../../lib/infra/relational";
import { createEnvelope, headersFor, MessageEnvelope } from "../../lib/messaging/envelope";
import { EventTypes, PaymentCommandTypes, Topic, Topics } from "../../lib/messaging/topics";
import type { PageOf } from "../../lib/pagination";
import { sendEnvelope } from "../../mixins/outbox.mixin";
import type { DeadLetter, DeadLetterSummary, Page } from "../../services/ops/dead-letter-store";
import type { OrderView } from "../../services/orders/domain/order-view";
import type { PaymentView } from "../../services/payments/domain/payment";
import { cleanUpChannels } from "../helpers/channels";
import {
  card,
  checkoutServices,
  ErrorBody,
  isSettled,
  orderOf,
  RunningSandbox,
  SHIPPING_ADDRESS,
  Shopper,
  startSandbox,
  steps,
  Storefront,
} from "../helpers/checkout";
import { Platform, startPlatform, withRealServers } from "../helpers/platform";
import { adaptersFor, servers, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The checkout guarantees end to end: a storefront's requests over HTTP
 * through the real gateway, the real users, catalog, inventory, cart, orders
 * and payments services and the dead-letters store on one node, charging the
 * sandbox payment provider over HTTP and hearing from it by signed webhooks.
 * Embedded (SQLite, in-process channels and queues), and on MariaDB + Redis
 * with channels on Redis Streams and BullMQ queues. Money is checked in the
 * provider's own books, stock through the admin API, and every order is
 * followed to the end of its saga.
 */
const available = adaptersFor("mysql", "redis");
const modes =
  available.includes("mysql") && available.includes("redis")
    ? ["embedded", "mariadb+redis"]
    : ["embedded"];

const PAYMENT_TIMEOUT_SEC = 4;
const MAX_RETRIES = 2;
/** tok_slow answers after SLOW_MS; the payments client gives up on a call after TIMEOUT_MS and asks again. */
const SLOW_MS = 1500;
const PROVIDER_TIMEOUT_MS = 1000;

interface CallbackQueue {
  waiting: number;
  active: number;
  delayed: number;
}

describe.each(modes)("checkout end to end (%s)", (mode) => {
  const adminEmail = `${uniqueName("admin")}@example.com`;
  const adminPassword = randomBytes(18).toString("base64url");
  const channelsPrefix = uniqueName("checkout");
  const real = mode === "embedded" ? undefined : withRealServers("mysql", "redis");
  let sandbox: RunningSandbox;
  let platform: Platform;
  let shop: Storefront;

  beforeAll(async () => {
    sandbox = await startSandbox({ slowMs: SLOW_MS });
    platform = await startPlatform({
      services: checkoutServices({ sweepMs: 200 }),
      env: {
        LOG_LEVEL: "error",
        RATE_LIMIT_MAX: "0",
        AUTH_RATE_LIMIT_MAX: "0",
        ADMIN_EMAIL: adminEmail,
        ADMIN_PASSWORD: adminPassword,
        CHANNELS_PREFIX: channelsPrefix,
        CHANNELS_MAX_RETRIES: String(MAX_RETRIES),
        // Redis Streams: a failed message is delivered again after a second.
        CHANNELS_ACK_WAIT_MS: "1000",
        CHANNELS_POLL_INTERVAL_MS: "100",
        ORDER_PAYMENT_TIMEOUT_SEC: String(PAYMENT_TIMEOUT_SEC),
        OUTBOX_SWEEP_INTERVAL_MS: "200",
        OUTBOX_SWEEP_AGE_MS: "1000",
        PAYMENT_GATEWAY_TIMEOUT_MS: String(PROVIDER_TIMEOUT_MS),
        PAYMENT_GATEWAY_BREAKER_THRESHOLD: "50",
        PAYMENT_CHARGE_RETRY_DELAY_MS: "300",
        PAYMENT_WEBHOOK_BACKOFF_MS: "100",
        ...sandbox.env,
        ...(real ? { ...real.env, CHANNELS_URL: servers.redis! } : {}),
      },
    });
    // The provider sends its webhooks to this node's gateway (its port is known now).
    await sandbox.client.addWebhookEndpoint(`${platform.baseUrl}/payments/webhooks/sandbox`);
    shop = await Storefront.open(platform, adminEmail, adminPassword);
  });

  afterAll(async () => {
    await platform?.stop();
    await sandbox?.provider.close();
    await real?.cleanup();
    if (real) await cleanUpChannels("redis", channelsPrefix);
  });

  // ---- what the customer, the provider and the stock room see

  const payment = (who: Shopper, id: string) =>
    shop.api<PaymentView & ErrorBody>("GET", `/payments/${id}`, { token: who.token });

  const charges = (orderId: string) => sandbox.client.charges(orderId);

  /** The order's one charge, once the provider has it. */
  const onlyCharge = (orderId: string) =>
    waitFor(async () => {
      const found = await charges(orderId);
      expect(found).toHaveLength(1);
      return found[0];
    });

  const countOf = (order: OrderView, step: string) => steps(order).filter((s) => s === step).length;

  /** Resolves once no provider webhook waits or runs on the payments service's queue. */
  const callbacksIdle = () =>
    waitFor(async () => {
      const status = await platform.broker.call<{ queues: Record<string, CallbackQueue> }>(
        "payments.status",
      );
      const queue = status.queues["payment-callbacks"];
      return queue.waiting + queue.active + queue.delayed === 0;
    });

  const databaseOf = (service: string) =>
    (platform.broker.getLocalService(service) as unknown as { db: RelationalDatabase }).db;

  /** Outcomes of the payments service's calls to the provider for an order's charge, once one answered. */
  const chargeCalls = (orderId: string) =>
    waitFor(async () => {
      const rows = await databaseOf("payments").sequelize.query<{ outcome: string }>(
        `SELECT a.outcome FROM payment_attempts a JOIN payments p ON p.id = a.payment_id
         WHERE p.order_id = ? AND a.operation = 'charge' ORDER BY a.attempt_no`,
        { replacements: [orderId], type: QueryTypes.SELECT },
      );
      const outcomes = rows.map((r) => r.outcome);
      return outcomes.includes("ok") ? outcomes : undefined;
    });

  /**
   * Resolves once `group` has handled every message on `topic`. The
   * in-process adapter delivers inside sendToChannel; on Redis Streams the
   * group must have read the whole stream and acknowledged all of it.
   */
  async function consumed(topic: Topic, group: string): Promise<void> {
    if (!real) return;
    const redis = new Redis(servers.redis!);
    const stream = `${channelsPrefix}.${topic}`;
    try {
      await waitFor(async () => {
        const info = (await redis.xinfo("STREAM", stream)) as unknown[];
        const lastId = info[info.indexOf("last-generated-id") + 1];
        const groups = (await redis.xinfo("GROUPS", stream)) as unknown[][];
        const entry = groups.find((g) => g[g.indexOf("name") + 1] === group)!;
        const field = (name: string) => entry[entry.indexOf(name) + 1];
        return field("last-delivered-id") === lastId && field("pending") === 0;
      });
    } finally {
      redis.disconnect();
    }
  }

  // ---- the outcomes of a checkout

  it("confirms a card payment: stock committed, captured once at the provider, a receipt", async () => {
    const shopper = await shop.shopper();
    const productId = await shop.product(1250, 5);
    const placed = await shop.placeOrder(
      shopper,
      orderOf([{ productId, quantity: 2 }], card("tok_visa")),
    );
    expect(placed.status).toBe(201);
    expect(placed.body).toMatchObject({
      status: "PENDING",
      total: { amount: 2500, currency: "EUR" },
    });

    const confirmed = await shop.awaitOrder(shopper, placed.body.id);
    const charge = await onlyCharge(confirmed.id);
    expect(confirmed).toMatchObject({
      status: "CONFIRMED",
      cancelReason: null,
      payment: { status: "SUCCEEDED", providerReference: charge.id },
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
    expect(await shop.stock(productId)).toMatchObject({ onHand: 3, reserved: 0, available: 3 });
    expect(charge).toMatchObject({
      status: "succeeded",
      paid: true,
      amount: 2500,
      currency: "eur",
      refunded: false,
      refunds: [],
      metadata: { order_id: confirmed.id },
    });

    const paid = await payment(shopper, confirmed.payment!.id);
    expect(paid.status).toBe(200);
    expect(paid.body).toMatchObject({
      orderId: confirmed.id,
      status: "SUCCEEDED",
      amount: { amount: 2500, currency: "EUR" },
      providerReference: charge.id,
      card: { brand: "visa", last4: "4242" },
    });
    const receipt = await shop.api<Receipt>("GET", `/orders/${confirmed.id}/receipt`, {
      token: shopper.token,
    });
    expect(receipt.status).toBe(200);
    expect(receipt.body).toMatchObject({
      orderId: confirmed.id,
      paymentId: confirmed.payment!.id,
      total: { amount: 2500, currency: "EUR" },
      providerReference: charge.id,
      receiptNumber: paid.body.receiptNumber,
    });
  });

  it("cancels a declined card (PAYMENT_DECLINED): the stock comes back, nothing is captured", async () => {
    const shopper = await shop.shopper();
    const productId = await shop.product(990, 4);
    const placed = await shop.checkout(
      shopper,
      orderOf([{ productId, quantity: 3 }], card("tok_chargeDeclined")),
    );

    const cancelled = await shop.awaitOrder(shopper, placed.id);
    expect(cancelled).toMatchObject({
      status: "CANCELLED",
      cancelReason: "PAYMENT_DECLINED",
      payment: { status: "FAILED" },
    });
    expect(steps(cancelled)).toEqual([
      "ORDER_CREATED",
      "STOCK_RESERVATION_REQUESTED",
      "STOCK_RESERVED",
      "PAYMENT_REQUESTED",
      "PAYMENT_FAILED",
      "ORDER_CANCELLED",
      "STOCK_RELEASE_REQUESTED",
      "STOCK_RELEASED",
    ]);
    expect(await shop.stock(productId)).toMatchObject({ onHand: 4, reserved: 0, available: 4 });
    const charge = await onlyCharge(placed.id);
    expect(charge).toMatchObject({ status: "failed", paid: false, refunds: [] });
    expect((await payment(shopper, placed.id)).body).toMatchObject({
      status: "FAILED",
      failureCode: "DECLINED",
    });
    const receipt = await shop.api<ErrorBody>("GET", `/orders/${placed.id}/receipt`, {
      token: shopper.token,
    });
    expect(receipt.status).toBe(404);
  });

  it("cancels an order whose payment never comes (PAYMENT_TIMEOUT), and refunds it when the provider settles it after all", async () => {
    const shopper = await shop.shopper();
    const productId = await shop.product(4200, 2);
    const placed = await shop.checkout(
      shopper,
      orderOf([{ productId, quantity: 2 }], card("tok_async")),
    );
    const waiting = await shop.awaitOrder(shopper, placed.id, (o) =>
      steps(o).includes("PAYMENT_PENDING"),
    );
    expect(waiting.status).toBe("AWAITING_PAYMENT");
    expect(await shop.stock(productId)).toMatchObject({ onHand: 2, reserved: 2, available: 0 });

    const timedOut = await shop.awaitOrder(
      shopper,
      placed.id,
      isSettled,
      PAYMENT_TIMEOUT_SEC * 1000 + 10_000,
    );
    expect(timedOut).toMatchObject({ status: "CANCELLED", cancelReason: "PAYMENT_TIMEOUT" });
    expect(Date.parse(timedOut.updatedAt)).toBeGreaterThanOrEqual(
      Date.parse(waiting.paymentDeadline!),
    );
    expect(steps(timedOut).slice(-4)).toEqual([
      "ORDER_CANCELLED",
      "STOCK_RELEASE_REQUESTED",
      "REFUND_REQUESTED",
      "STOCK_RELEASED",
    ]);
    expect(await shop.stock(productId)).toMatchObject({ onHand: 2, reserved: 0, available: 2 });
    const pending = await onlyCharge(placed.id);
    expect(pending).toMatchObject({ status: "pending", paid: false, refunds: [] });
    expect((await payment(shopper, placed.id)).body.status).toBe("PENDING");

    // The provider settles the charge after the order was given up: the money goes back, once.
    await sandbox.client.settle(pending.id, "succeeded");
    const refunded = await shop.awaitOrder(
      shopper,
      placed.id,
      (o) => o.payment?.status === "REFUNDED" && steps(o).includes("PAYMENT_REFUNDED"),
    );
    expect(refunded).toMatchObject({ status: "CANCELLED", cancelReason: "PAYMENT_TIMEOUT" });
    expect(countOf(refunded, "PAYMENT_SUCCEEDED")).toBe(1);
    expect(countOf(refunded, "PAYMENT_REFUNDED")).toBe(1);
    expect(steps(refunded)).not.toContain("ORDER_CONFIRMED");
    const charge = await onlyCharge(placed.id);
    expect(charge).toMatchObject({ status: "succeeded", refunded: true, amount_refunded: 8400 });
    expect(charge.refunds).toEqual([expect.objectContaining({ amount: 8400 })]);
    expect((await payment(shopper, placed.id)).body.status).toBe("REFUNDED");
    expect(await shop.stock(productId)).toMatchObject({ onHand: 2, reserved: 0 });
  });

  it("confirms a payment the provider settles later by webhook; the same webhook delivered again changes nothing", async () => {
    const shopper = await shop.shopper();
    const productId = await shop.product(3000, 3);
    const placed = await shop.checkout(
      shopper,
      orderOf([{ productId, quantity: 1 }], card("tok_async")),
    );
    const waiting = await shop.awaitOrder(shopper, placed.id, (o) =>
      steps(o).includes("PAYMENT_PENDING"),
    );
    expect(waiting).toMatchObject({ status: "AWAITING_PAYMENT", payment: { status: "PENDING" } });
    const pending = await onlyCharge(placed.id);

    await sandbox.client.settle(pending.id, "succeeded");
    const confirmed = await shop.awaitOrder(shopper, placed.id);
    expect(confirmed).toMatchObject({
      status: "CONFIRMED",
      payment: { status: "SUCCEEDED", providerReference: pending.id },
    });
    expect(steps(confirmed)).toEqual([
      "ORDER_CREATED",
      "STOCK_RESERVATION_REQUESTED",
      "STOCK_RESERVED",
      "PAYMENT_REQUESTED",
      "PAYMENT_PENDING",
      "PAYMENT_SUCCEEDED",
      "ORDER_CONFIRMED",
      "STOCK_COMMIT_REQUESTED",
      "STOCK_COMMITTED",
    ]);
    expect(await shop.stock(productId)).toMatchObject({ onHand: 2, reserved: 0 });

    // The provider delivers its charge.succeeded event once more.
    const events = await sandbox.client.events(pending.id);
    const succeeded = events.find((e) => e.type === "charge.succeeded")!;
    await sandbox.client.resend(succeeded.id);
    await waitFor(async () => {
      const again = (await sandbox.client.events(pending.id)).find((e) => e.id === succeeded.id)!;
      return again.deliveries.length === 2 && again.deliveries.every((d) => d.delivered);
    });
    await callbacksIdle();
    expect((await shop.order(shopper, placed.id)).body).toEqual(confirmed);
    expect(await charges(placed.id)).toHaveLength(1);
    expect((await payment(shopper, placed.id)).body).toMatchObject({ status: "SUCCEEDED" });
    expect(await shop.stock(productId)).toMatchObject({ onHand: 2, reserved: 0 });
  });

  it("refunds a payment that succeeds after the customer cancelled, and keeps the order cancelled", async () => {
    const shopper = await shop.shopper();
    const productId = await shop.product(1800, 6);
    const placed = await shop.checkout(
      shopper,
      orderOf([{ productId, quantity: 2 }], { type: "bank_transfer" }),
    );
    await shop.awaitOrder(shopper, placed.id, (o) => steps(o).includes("PAYMENT_PENDING"));

    const cancel = await shop.api<OrderView>("POST", `/orders/${placed.id}/cancel`, {
      token: shopper.token,
    });
    expect(cancel.status).toBe(200);
    expect(cancel.body).toMatchObject({ status: "CANCELLED", cancelReason: "CUSTOMER_REQUEST" });
    expect(steps(cancel.body).slice(-3)).toEqual([
      "ORDER_CANCELLED",
      "STOCK_RELEASE_REQUESTED",
      "REFUND_REQUESTED",
    ]);

    // The transfer arrives after all.
    const transfer = await onlyCharge(placed.id);
    await sandbox.client.settle(transfer.id, "succeeded");
    const refunded = await shop.awaitOrder(
      shopper,
      placed.id,
      (o) => isSettled(o) && steps(o).includes("PAYMENT_REFUNDED"),
    );
    expect(refunded).toMatchObject({
      status: "CANCELLED",
      cancelReason: "CUSTOMER_REQUEST",
      payment: { status: "REFUNDED" },
    });
    expect(countOf(refunded, "PAYMENT_SUCCEEDED")).toBe(1);
    expect(steps(refunded)).not.toContain("ORDER_CONFIRMED");
    const charge = await onlyCharge(placed.id);
    expect(charge).toMatchObject({ status: "succeeded", refunded: true, amount_refunded: 3600 });
    expect(charge.refunds).toHaveLength(1);
    expect((await payment(shopper, placed.id)).body).toMatchObject({
      status: "REFUNDED",
      method: "bank_transfer",
    });
    expect(await shop.stock(productId)).toMatchObject({ onHand: 6, reserved: 0, available: 6 });
  });

  it("confirms cash on delivery without charging anything", async () => {
    const shopper = await shop.shopper();
    const productId = await shop.product(700, 2);
    const placed = await shop.checkout(
      shopper,
      orderOf([{ productId, quantity: 1 }], { type: "cash_on_delivery" }),
    );
    const confirmed = await shop.awaitOrder(shopper, placed.id);
    expect(confirmed).toMatchObject({
      status: "CONFIRMED",
      payment: { status: "AWAITING_COLLECTION", providerReference: null },
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
    expect(await shop.stock(productId)).toMatchObject({ onHand: 1, reserved: 0 });
    expect(await charges(placed.id)).toEqual([]);
    expect((await payment(shopper, placed.id)).body).toMatchObject({
      status: "AWAITING_COLLECTION",
      method: "cash_on_delivery",
    });
  });

  it("orders the cart: the cart is converted, and GET /cart then starts a new one", async () => {
    const shopper = await shop.shopper();
    const [lamp, bulb] = [await shop.product(2999, 4), await shop.product(450, 10)];
    for (const [productId, quantity] of [
      [lamp, 1],
      [bulb, 3],
    ] as const) {
      const added = await shop.api("POST", "/cart/items", {
        token: shopper.token,
        body: { productId, quantity },
      });
      expect(added.status).toBeLessThan(300);
    }
    const cart = await shop.api<CartView>("GET", "/cart", { token: shopper.token });
    expect(cart.body).toMatchObject({ itemCount: 4, subtotal: { amount: 4349, currency: "EUR" } });

    const placed = await shop.checkout(shopper, {
      cartId: cart.body.id,
      shippingAddress: SHIPPING_ADDRESS,
      paymentMethod: card("tok_visa"),
    });
    expect(placed).toMatchObject({
      cartId: cart.body.id,
      total: { amount: 4349, currency: "EUR" },
    });
    const confirmed = await shop.awaitOrder(shopper, placed.id);
    expect(confirmed.status).toBe("CONFIRMED");
    expect((await onlyCharge(placed.id)).amount).toBe(4349);
    expect((await payment(shopper, placed.id)).body).toMatchObject({
      status: "SUCCEEDED",
      amount: { amount: 4349, currency: "EUR" },
    });
    expect(await shop.stock(lamp)).toMatchObject({ onHand: 3, reserved: 0 });
    expect(await shop.stock(bulb)).toMatchObject({ onHand: 7, reserved: 0 });

    const next = await waitFor(async () => {
      const res = await shop.api<CartView>("GET", "/cart", { token: shopper.token });
      return res.body.id !== cart.body.id ? res.body : undefined;
    });
    expect(next).toMatchObject({ status: "active", items: [], itemCount: 0 });
  });

  // ---- never oversell, never charge twice

  it("never oversells: 3 units, 12 concurrent checkouts by different customers → 3 confirmed, 9 OUT_OF_STOCK", async () => {
    const productId = await shop.product(1500, 3);
    const shoppers = await Promise.all(Array.from({ length: 12 }, () => shop.shopper()));
    const answers = await Promise.all(
      shoppers.map((s) =>
        shop.placeOrder(s, orderOf([{ productId, quantity: 1 }], card("tok_visa"))),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(12).fill(201));

    const levels: StockLevel[] = [];
    const final = await waitFor(
      async () => {
        levels.push(await shop.stock(productId));
        const orders = await Promise.all(
          answers.map(async (a, i) => (await shop.order(shoppers[i], a.body.id)).body),
        );
        return orders.every(isSettled) ? orders : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    const confirmed = final.filter((o) => o.status === "CONFIRMED");
    const cancelled = final.filter((o) => o.status === "CANCELLED");
    expect(confirmed).toHaveLength(3);
    expect(cancelled).toHaveLength(9);
    expect(cancelled.map((o) => o.cancelReason)).toEqual(Array(9).fill("OUT_OF_STOCK"));
    for (const level of levels) {
      expect(level.onHand).toBeGreaterThanOrEqual(0);
      expect(level.reserved).toBeGreaterThanOrEqual(0);
      expect(level.reserved).toBeLessThanOrEqual(level.onHand);
    }
    expect(await shop.stock(productId)).toMatchObject({ onHand: 0, reserved: 0, available: 0 });
    for (const order of confirmed)
      expect((await charges(order.id)).map((c) => c.status)).toEqual(["succeeded"]);
    for (const [i, order] of final.entries()) {
      if (order.status === "CONFIRMED") continue;
      // Refused before any payment was asked for: nothing charged, no payment at all.
      expect(steps(order)).toEqual([
        "ORDER_CREATED",
        "STOCK_RESERVATION_REQUESTED",
        "STOCK_REJECTED",
        "ORDER_CANCELLED",
      ]);
      expect(await charges(order.id)).toEqual([]);
      expect((await payment(shoppers[i], order.id)).status).toBe(404);
    }
  });

  it("charges once for one Idempotency-Key sent 5 times at once and again later, and for a ProcessPayment delivered twice", async () => {
    const shopper = await shop.shopper();
    const productId = await shop.product(2200, 10);
    const body = orderOf([{ productId, quantity: 1 }], card("tok_visa"));
    const key = randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => shop.placeOrder(shopper, body, key)),
    );
    // Requests that found the key busy were told to come back (409); the others got the order.
    expect(answers.every((a) => a.status === 201 || a.status === 409)).toBe(true);
    const created = answers.filter((a) => a.status === 201);
    expect(created.length).toBeGreaterThan(0);
    const ids = new Set(created.map((a) => a.body.id));
    expect(ids.size).toBe(1);
    const [orderId] = ids;
    const confirmed = await shop.awaitOrder(shopper, orderId);
    expect(confirmed.status).toBe("CONFIRMED");

    const later = await shop.placeOrder(shopper, body, key);
    expect(later.status).toBe(201);
    expect(later.body.id).toBe(orderId);
    const list = await shop.api<PageOf<OrderView>>("GET", "/orders", { token: shopper.token });
    expect(list.body.total).toBe(1);

    // The saga's ProcessPayment delivered again, as a relay that died before marking it sent would.
    const [row] = await databaseOf("orders").sequelize.query<{ envelope: string; headers: string }>(
      "SELECT envelope, headers FROM outbox_events WHERE aggregate_id = ? AND type = ?",
      { replacements: [orderId, PaymentCommandTypes.ProcessPayment], type: QueryTypes.SELECT },
    );
    const before = (await payment(shopper, orderId)).body;
    await sendEnvelope(
      platform.broker,
      {
        topic: Topics.PaymentsCommands,
        aggregateId: orderId,
        envelope: JSON.parse(row.envelope) as MessageEnvelope,
        headers: JSON.parse(row.headers),
      },
      "orders",
    );
    await consumed(Topics.PaymentsCommands, "payments");
    expect((await charges(orderId)).map((c) => c.status)).toEqual(["succeeded"]);
    expect((await payment(shopper, orderId)).body).toEqual(before);
    expect((await shop.order(shopper, orderId)).body).toEqual(confirmed);
    expect(await shop.stock(productId)).toMatchObject({ onHand: 9, reserved: 0 });
  });

  it("charges once when the provider has to be asked again: a 5xx (tok_flaky) and a lost answer (tok_slow)", async () => {
    const shopper = await shop.shopper();
    const productId = await shop.product(1000, 5);
    const asked = { tok_flaky: "server_error", tok_slow: "timeout" } as const;
    for (const [token, firstOutcome] of Object.entries(asked)) {
      const placed = await shop.checkout(
        shopper,
        orderOf([{ productId, quantity: 1 }], card(token)),
      );
      const confirmed = await shop.awaitOrder(shopper, placed.id);
      expect(confirmed).toMatchObject({ status: "CONFIRMED", payment: { status: "SUCCEEDED" } });
      // The first call got no answer to rely on; the same charge was asked for again and answered.
      const calls = await chargeCalls(placed.id);
      expect(calls.slice(0, 2)).toEqual([firstOutcome, "ok"]);
      const charge = await onlyCharge(placed.id);
      expect(charge).toMatchObject({ status: "succeeded", amount: 1000, refunded: false });
      expect(confirmed.payment!.providerReference).toBe(charge.id);
    }
    expect(await shop.stock(productId)).toMatchObject({ onHand: 3, reserved: 0 });
  });

  // ---- who may see what

  it("shows an order and its payment only to its owner: another customer gets 404 everywhere", async () => {
    const owner = await shop.shopper();
    const intruder = await shop.shopper();
    const productId = await shop.product(800, 3);
    const placed = await shop.checkout(
      owner,
      orderOf([{ productId, quantity: 1 }], card("tok_visa")),
    );
    const confirmed = await shop.awaitOrder(owner, placed.id);
    const paymentId = confirmed.payment!.id;

    const attempts = [
      await shop.order(intruder, placed.id),
      await shop.api<ErrorBody>("POST", `/orders/${placed.id}/cancel`, { token: intruder.token }),
      await shop.api<ErrorBody>("GET", `/orders/${placed.id}/receipt`, { token: intruder.token }),
      await payment(intruder, paymentId),
      await payment(intruder, placed.id),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe("NOT_FOUND");
    }
    const theirs = await shop.api<PageOf<OrderView>>("GET", "/orders", { token: intruder.token });
    expect(theirs.body.total).toBe(0);

    // Nothing the intruder tried touched the order or its money.
    expect((await shop.order(owner, placed.id)).body).toEqual(confirmed);
    expect((await payment(owner, paymentId)).body.status).toBe("SUCCEEDED");
    expect((await onlyCharge(placed.id)).refunded).toBe(false);
  });

  it("refuses a card number anywhere in POST /orders (400 naming where), and places no order", async () => {
    const shopper = await shop.shopper();
    const productId = await shop.product(500, 5);
    const pan = "4242 4242 4242 4242";
    const bodies: [object, string][] = [
      [orderOf([{ productId, quantity: 1 }], card(pan.replace(/ /g, ""))), "paymentMethod.token"],
      [
        {
          ...orderOf([{ productId, quantity: 1 }], card("tok_visa")),
          shippingAddress: { ...SHIPPING_ADDRESS, line2: pan },
        },
        "shippingAddress.line2",
      ],
      [
        {
          ...orderOf([{ productId, quantity: 1 }], card("tok_visa")),
          paymentMethod: { type: "card", token: "tok_visa", cvc: "123" },
        },
        "paymentMethod.cvc",
      ],
    ];
    for (const [body, field] of bodies) {
      const res = await shop.placeOrder(shopper, body);
      expect({ field, status: res.status }).toEqual({ field, status: 400 });
      expect(res.body.error).toMatchObject({ type: "VALIDATION" });
      expect(res.body.error.details).toEqual([expect.objectContaining({ field })]);
      expect(JSON.stringify(res.body)).not.toContain("4242");
    }
    const list = await shop.api<PageOf<OrderView>>("GET", "/orders", { token: shopper.token });
    expect(list.body.total).toBe(0);
    expect(await shop.stock(productId)).toMatchObject({ onHand: 5, reserved: 0 });
  });

  // ---- a message that can never be handled

  it("moves a message the saga cannot read to inventory.events.dlq after bounded retries, keeps checking out meanwhile, and replays it", async () => {
    const poison = createEnvelope({
      type: EventTypes.StockReserved,
      aggregateId: randomUUID(),
      payload: "not a reservation outcome",
    });
    const headers = headersFor(poison, { source: "inventory", correlationId: uniqueName("corr") });
    const shopper = await shop.shopper();
    const productId = await shop.product(650, 2);

    const [, placed] = await Promise.all([
      platform.broker.sendToChannel(Topics.InventoryEvents, poison, {
        key: poison.aggregateId,
        headers: { ...headers },
      }),
      shop.checkout(shopper, orderOf([{ productId, quantity: 1 }], card("tok_visa"))),
    ]);
    const confirmed = await shop.awaitOrder(shopper, placed.id);
    expect(confirmed.status).toBe("CONFIRMED");

    const list = (params: object) =>
      platform.broker.call<Page<DeadLetterSummary>, object>("deadletters.list", params);
    const [dead] = await waitFor(
      async () => {
        const page = await list({ topic: Topics.InventoryEvents });
        const found = page.items.filter((l) => l.messageId === poison.id);
        return found.length ? found : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(dead).toMatchObject({
      topic: Topics.InventoryEvents,
      group: "orders",
      type: EventTypes.StockReserved,
      aggregateId: poison.aggregateId,
      status: "dead",
      replayCount: 0,
    });
    expect(dead.error).toMatch(/reservationId/);
    expect(dead.attempts).toBeLessThanOrEqual(MAX_RETRIES);

    // An operator replays it: it reaches the saga again, which still cannot read it.
    const { replayed } = await platform.broker.call<{ replayed: DeadLetterSummary[] }, object>(
      "deadletters.replay",
      { id: dead.id },
    );
    expect(replayed.map((r) => r.id)).toEqual([dead.id]);
    const again = await waitFor(
      async () => {
        const letter = await platform.broker.call<DeadLetter, object>("deadletters.get", {
          id: dead.id,
        });
        return letter.status === "dead" ? letter : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(again).toMatchObject({ replayCount: 1, payload: poison });
    expect(again.headers).toMatchObject({ correlationId: headers.correlationId });
    expect((await shop.order(shopper, placed.id)).body).toEqual(confirmed);
  });
});
