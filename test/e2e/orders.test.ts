import { randomBytes, randomUUID } from "node:crypto";
import type { ProductSnapshot } from "../../lib/contracts/catalog";
import type { Receipt } from "../../lib/contracts/orders";
import type { PageOf } from "../../lib/pagination";
import type { CartView } from "../../lib/contracts/cart";
import CartService from "../../services/cart/cart.service";
import CatalogService from "../../services/catalog/catalog.service";
import InventoryService from "../../services/inventory/inventory.service";
import type { OrderSummary, OrderView } from "../../services/orders/domain/order-view";
import { ordersService } from "../helpers/checkout";
import { infrastructureOf } from "../../lib/infra";
import { showOrder } from "../../lib/ops/order.command";
import { renderReport, tablesOf } from "../../lib/ops/output";
import { DecisionWriter } from "../../services/orders/decision-writer";
import { placeOrder as placeDomainOrder } from "../../services/orders/domain/order";
import { OrderRepository } from "../../services/orders/order-repository";
import { orderRecord } from "../helpers/order-records";
import UsersService from "../../services/users/users.service";
import { paymentsStandIn } from "../helpers/payments-stand-in";
import { Platform, accessTokenFor, newCustomerToken, startPlatform } from "../helpers/platform";
import { uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * Orders over HTTP: the real gateway (tokens, error envelope, headers), the
 * orders service with the real users, catalog, inventory and cart services,
 * and the scripted stand-in for the payments service
 * (test/helpers/payments-stand-in.ts), all embedded in one node. Each test
 * registers its own shoppers and makes its own products.
 */
interface ErrorBody {
  error: {
    type: string;
    message: string;
    code: number;
    details: { field?: string; message: string; [k: string]: unknown }[];
  };
}
type OrderBody = OrderView & ErrorBody;

const PASSWORD = "correct horse battery staple";
const ADDRESS = {
  name: "Sam Shopper",
  line1: "1 Main Street",
  city: "Springfield",
  postalCode: "12345",
  country: "US",
};

describe("orders end to end", () => {
  const adminEmail = `${uniqueName("admin")}@example.com`;
  const adminPassword = randomBytes(18).toString("base64url");
  const payments = paymentsStandIn();
  let platform: Platform;
  let api: Platform["request"];
  let admin: string;
  let categoryId: string;

  beforeAll(async () => {
    platform = await startPlatform({
      services: [
        UsersService,
        CatalogService,
        InventoryService,
        CartService,
        ordersService(0),
        payments.service,
      ],
      env: {
        RATE_LIMIT_MAX: "0",
        AUTH_RATE_LIMIT_MAX: "0",
        ADMIN_EMAIL: adminEmail,
        ADMIN_PASSWORD: adminPassword,
        CHANNELS_PREFIX: uniqueName("orders"),
        RESERVATION_SWEEP_INTERVAL_MS: "0",
      },
    });
    api = platform.request;
    admin = await accessTokenFor(platform, adminEmail, adminPassword);
    const category = await platform.broker.call<{ id: string }, object>("catalog.createCategory", {
      name: `Category ${uniqueName("c")}`,
    });
    categoryId = category.id;
  });

  afterAll(async () => {
    await platform?.stop();
  });

  async function newProduct(amount: number, onHand = 100): Promise<string> {
    const product = await platform.broker.call<ProductSnapshot, object>("catalog.createProduct", {
      sku: uniqueName("SKU").replace(/_/g, "-"),
      name: `Product ${uniqueName("p")}`,
      description: "Something to order.",
      brand: "Acme",
      categoryId,
      price: { amount, currency: "USD" },
      status: "active",
    });
    await platform.broker.call("inventory.setStockBulk", {
      levels: [{ productId: product.id, onHand }],
    });
    return product.id;
  }

  const shopper = () => newCustomerToken(platform, PASSWORD);

  function placeOrder(token: string, body: unknown, key: string | null = randomUUID()) {
    return api<OrderBody>("POST", "/orders", {
      token,
      body,
      headers: key === null ? {} : { "Idempotency-Key": key },
    });
  }

  const getOrder = (token: string, id: string) => api<OrderBody>("GET", `/orders/${id}`, { token });

  const orderOf = (productId: string, quantity = 1) => ({
    lines: [{ productId, quantity }],
    shippingAddress: ADDRESS,
    paymentMethod: { type: "card", token: "tok_visa" },
  });

  it("places an order: 201 with the order PENDING and its Location", async () => {
    const token = await shopper();
    const productId = await newProduct(1999);
    const res = await placeOrder(token, orderOf(productId, 2));
    expect(res.status).toBe(201);
    expect(res.headers.location).toBe(`/api/v1/orders/${res.body.id}`);
    expect(res.body).toMatchObject({
      // The reference its emails carry, so the storefront can show the same.
      reference: res.body.id.replace(/-/g, "").slice(0, 8).toUpperCase(),
      status: "PENDING",
      cancelReason: null,
      lines: [
        {
          productId,
          quantity: 2,
          unitPrice: { amount: 1999, currency: "USD" },
          lineTotal: { amount: 3998, currency: "USD" },
        },
      ],
      itemCount: 2,
      subtotal: { amount: 3998, currency: "USD" },
      total: { amount: 3998, currency: "USD" },
      shippingAddress: ADDRESS,
      paymentMethod: { type: "card" },
      payment: null,
    });
    // The card token is passed to payments, never shown or kept on the order.
    expect(JSON.stringify(res.body)).not.toContain("tok_visa");
  });

  it("needs an Idempotency-Key header (400 naming it)", async () => {
    const token = await shopper();
    const productId = await newProduct(500);
    for (const key of [null, "k".repeat(256)]) {
      const res = await placeOrder(token, orderOf(productId), key);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ type: "VALIDATION" });
      expect(res.body.error.details).toEqual([
        expect.objectContaining({ field: "Idempotency-Key" }),
      ]);
    }
    const list = await api<PageOf<OrderSummary>>("GET", "/orders", { token });
    expect(list.body.total).toBe(0);
  });

  it("answers the same response to the same key and body, and 422 to another body", async () => {
    const token = await shopper();
    const productId = await newProduct(700);
    const key = randomUUID();
    const first = await placeOrder(token, orderOf(productId), key);
    const again = await placeOrder(token, orderOf(productId), key);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.location).toBe(first.headers.location);

    const other = await placeOrder(token, orderOf(productId, 2), key);
    expect(other.status).toBe(422);
    expect(other.body.error.type).toBe("UNPROCESSABLE");

    // Keys belong to their user: another shopper's same key is a new order.
    const stranger = await placeOrder(await shopper(), orderOf(productId), key);
    expect(stranger.status).toBe(201);
    expect(stranger.body.id).not.toBe(first.body.id);
    const list = await api<PageOf<OrderSummary>>("GET", "/orders", { token });
    expect(list.body.total).toBe(1);
  });

  it("creates one order for 10 concurrent requests with one key", async () => {
    const token = await shopper();
    const productId = await newProduct(900);
    const key = randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => placeOrder(token, orderOf(productId), key)),
    );
    const created = answers.filter((r) => r.status === 201);
    expect(answers.every((r) => r.status === 201 || r.status === 409)).toBe(true);
    expect(created.length).toBeGreaterThan(0);
    expect(new Set(created.map((r) => r.body.id)).size).toBe(1);
    const list = await api<PageOf<OrderSummary>>("GET", "/orders", { token });
    expect(list.body.total).toBe(1);
    expect(list.body.items[0].id).toBe(created[0].body.id);
  });

  it("prices orders from the catalog: prices and totals in the request are ignored", async () => {
    const token = await shopper();
    const productId = await newProduct(2500);
    const res = await placeOrder(token, {
      ...orderOf(productId, 3),
      lines: [{ productId, quantity: 3, unitPrice: { amount: 1, currency: "USD" }, price: 1 }],
      total: { amount: 3, currency: "USD" },
      subtotal: 3,
    });
    expect(res.status).toBe(201);
    expect(res.body.total).toEqual({ amount: 7500, currency: "USD" });
    expect(res.body.lines[0].unitPrice).toEqual({ amount: 2500, currency: "USD" });
  });

  it("merges repeated lines and refuses bad requests with 400s naming the field", async () => {
    const token = await shopper();
    const [a, b] = [await newProduct(100), await newProduct(200)];
    const merged = await placeOrder(token, {
      ...orderOf(a),
      lines: [
        { productId: a, quantity: 1 },
        { productId: b, quantity: 1 },
        { productId: a, quantity: 2 },
      ],
    });
    expect(merged.body.lines.map((l) => [l.productId, l.quantity])).toEqual([
      [a, 3],
      [b, 1],
    ]);
    expect(merged.body.total.amount).toBe(500);

    const draft = await platform.broker.call<ProductSnapshot, object>("catalog.createProduct", {
      sku: uniqueName("SKU").replace(/_/g, "-"),
      name: "Not yet",
      description: "Draft.",
      brand: "Acme",
      categoryId,
      price: { amount: 100, currency: "USD" },
      status: "draft",
    });
    const cases: [unknown, string][] = [
      [{ ...orderOf(a), cartId: randomUUID() }, "cartId"],
      [{ shippingAddress: ADDRESS, paymentMethod: { type: "card", token: "tok_visa" } }, "lines"],
      [{ ...orderOf(a), shippingAddress: undefined }, "shippingAddress"],
      [{ ...orderOf(a), paymentMethod: { type: "card" } }, "paymentMethod.token"],
      [{ ...orderOf(a), lines: [{ productId: a, quantity: 100 }] }, "lines[0].quantity"],
      [{ ...orderOf(a), lines: [{ productId: randomUUID(), quantity: 1 }] }, "lines[0].productId"],
      [
        {
          ...orderOf(a),
          lines: [
            { productId: a, quantity: 1 },
            { productId: draft.id, quantity: 1 },
          ],
        },
        "lines[1].productId",
      ],
      [
        { ...orderOf(a), shippingAddress: { ...ADDRESS, country: "USA" } },
        "shippingAddress.country",
      ],
    ];
    for (const [body, field] of cases) {
      const res = await placeOrder(token, body);
      expect({ field, status: res.status }).toEqual({ field, status: 400 });
      expect(res.body.error.details.map((d) => d.field)).toContain(field);
    }
  });

  it("orders the user's cart at catalog prices, and the cart service then closes the cart", async () => {
    const token = await shopper();
    const [a, b] = [await newProduct(1000), await newProduct(250)];
    for (const [productId, quantity] of [
      [a, 2],
      [b, 4],
    ] as const) {
      const added = await api("POST", "/cart/items", { token, body: { productId, quantity } });
      expect(added.status).toBeLessThan(300);
    }
    const cart = await api<CartView>("GET", "/cart", { token });
    const res = await placeOrder(token, {
      cartId: cart.body.id,
      shippingAddress: ADDRESS,
      paymentMethod: { type: "card", token: "tok_visa" },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      cartId: cart.body.id,
      itemCount: 6,
      total: { amount: 3000, currency: "USD" },
    });
    expect(res.body.lines.map((l) => [l.productId, l.quantity])).toEqual(
      expect.arrayContaining([
        [a, 2],
        [b, 4],
      ]),
    );
    // OrderCreated reaches the cart service: the next read starts a new, empty cart.
    await waitFor(async () => {
      const next = await api<CartView>("GET", "/cart", { token });
      return next.body.id !== cart.body.id && next.body.items.length === 0;
    });

    // Another user's cart cannot be ordered.
    const stranger = await placeOrder(await shopper(), {
      cartId: cart.body.id,
      shippingAddress: ADDRESS,
      paymentMethod: { type: "card", token: "tok_visa" },
    });
    expect(stranger.status).toBe(404);
  });

  it("ships to a saved address given by id, and only to one of the user's own", async () => {
    const token = await shopper();
    const productId = await newProduct(300);
    const address = await api<{ id: string }>("POST", "/users/me/addresses", {
      token,
      body: { ...ADDRESS, line2: "Apt 4" },
    });
    expect(address.status).toBe(201);
    const body = {
      lines: [{ productId, quantity: 1 }],
      shippingAddressId: address.body.id,
      paymentMethod: { type: "cash_on_delivery" },
    };
    const res = await placeOrder(token, body);
    expect(res.status).toBe(201);
    expect(res.body.shippingAddress).toEqual({ ...ADDRESS, line2: "Apt 4" });
    expect(res.body.paymentMethod).toEqual({ type: "cash_on_delivery" });

    const other = await placeOrder(await shopper(), body);
    expect(other.status).toBe(400);
    expect(other.body.error.details).toEqual([
      expect.objectContaining({ field: "shippingAddressId" }),
    ]);
  });

  it("lists the user's own orders, newest first, a page at a time", async () => {
    const token = await shopper();
    const productId = await newProduct(100);
    const ids: string[] = [];
    for (let quantity = 1; quantity <= 3; quantity++)
      ids.push((await placeOrder(token, orderOf(productId, quantity))).body.id);
    const someoneElse = await shopper();
    await placeOrder(someoneElse, orderOf(productId));

    const first = await api<PageOf<OrderSummary>>("GET", "/orders?page=1&pageSize=2", { token });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ page: 1, pageSize: 2, total: 3 });
    expect(first.body.items.map((o) => o.id)).toEqual([ids[2], ids[1]]);
    expect(first.body.items[0]).toMatchObject({
      reference: ids[2].slice(0, 8).toUpperCase(),
      itemCount: 3,
      total: { amount: 300, currency: "USD" },
    });
    const second = await api<PageOf<OrderSummary>>("GET", "/orders?page=2&pageSize=2", { token });
    expect(second.body.items.map((o) => o.id)).toEqual([ids[0]]);

    const theirs = await api<PageOf<OrderSummary>>("GET", "/orders", { token: someoneElse });
    expect(theirs.body.total).toBe(1);
    expect(ids).not.toContain(theirs.body.items[0].id);

    const tooBig = await api<ErrorBody>("GET", "/orders?pageSize=101", { token });
    expect(tooBig.status).toBe(400);
    expect((await api("GET", "/orders")).status).toBe(401);
  });

  it("shows the order's progress: status, payment and the saga timeline with message ids", async () => {
    const token = await shopper();
    const productId = await newProduct(4200);
    const placed = await placeOrder(token, orderOf(productId));
    const confirmed = await waitFor(async () => {
      const res = await getOrder(token, placed.body.id);
      return res.body.timeline.some((s) => s.step === "STOCK_COMMITTED") ? res : undefined;
    });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toMatchObject({
      status: "CONFIRMED",
      payment: { status: "SUCCEEDED", providerReference: `ch_${placed.body.id}` },
    });
    expect(confirmed.body.timeline.map((s) => s.step)).toEqual([
      "ORDER_CREATED",
      "STOCK_RESERVATION_REQUESTED",
      "STOCK_RESERVED",
      "PAYMENT_REQUESTED",
      "PAYMENT_SUCCEEDED",
      "ORDER_CONFIRMED",
      "STOCK_COMMIT_REQUESTED",
      "STOCK_COMMITTED",
    ]);
    for (const step of confirmed.body.timeline) {
      expect(step).toMatchObject({ messageId: expect.any(String), at: expect.any(String) });
      expect(Number.isNaN(Date.parse(step.at))).toBe(false);
    }
    // The saga carries the correlation of the request that placed the order.
    expect(confirmed.body.timeline[0].correlationId).toBe(placed.headers["x-request-id"]);

    const receipt = await api<Receipt>("GET", `/orders/${placed.body.id}/receipt`, { token });
    expect(receipt.status).toBe(200);
    expect(receipt.body).toMatchObject({
      orderId: placed.body.id,
      total: { amount: 4200, currency: "USD" },
    });
  });

  it("answers ?whileStatus=…&wait=… once the order has left those statuses, and at once when it is not in them", async () => {
    const token = await shopper();
    const productId = await newProduct(1250);
    const placed = await placeOrder(token, orderOf(productId));
    expect(placed.body.status).toBe("PENDING");
    const path = `/orders/${placed.body.id}`;

    const started = Date.now();
    const settled = await api<OrderBody>(
      "GET",
      `${path}?whileStatus=PENDING,AWAITING_PAYMENT&wait=8`,
      { token },
    );
    expect(settled.status).toBe(200);
    expect(settled.body.status).toBe("CONFIRMED");
    expect(Date.now() - started).toBeLessThan(5_000);

    // Not in the awaited status: no waiting.
    const t0 = Date.now();
    const atOnce = await api<OrderBody>("GET", `${path}?whileStatus=PENDING&wait=8`, { token });
    expect(atOnce.body.status).toBe("CONFIRMED");
    expect(Date.now() - t0).toBeLessThan(1_000);

    // Still in it when the wait is over: the order as it is.
    const t1 = Date.now();
    const timedOut = await api<OrderBody>("GET", `${path}?whileStatus=CONFIRMED&wait=1`, { token });
    expect(timedOut.body.status).toBe("CONFIRMED");
    expect(Date.now() - t1).toBeGreaterThanOrEqual(900);

    // Another customer waits for nothing: 404 at once.
    const intruder = await shopper();
    const t2 = Date.now();
    const hidden = await api<ErrorBody>("GET", `${path}?whileStatus=CONFIRMED&wait=8`, {
      token: intruder,
    });
    expect(hidden.status).toBe(404);
    expect(Date.now() - t2).toBeLessThan(1_000);

    for (const query of [
      "wait=9&whileStatus=PENDING",
      "wait=-1",
      "whileStatus=LOST&wait=1",
      "whileStatus=PENDING,&wait=1",
    ]) {
      const bad = await api<ErrorBody>("GET", `${path}?${query}`, { token });
      expect(bad.status).toBe(400);
      expect(bad.body.error.type).toBe("VALIDATION");
    }
  });

  it("hides another user's order: 404 on read, cancel and receipt", async () => {
    const owner = await shopper();
    const intruder = await shopper();
    const productId = await newProduct(800);
    const placed = await placeOrder(owner, orderOf(productId));
    const id = placed.body.id;
    for (const res of [
      await getOrder(intruder, id),
      await api<ErrorBody>("POST", `/orders/${id}/cancel`, { token: intruder }),
      await api<ErrorBody>("GET", `/orders/${id}/receipt`, { token: intruder }),
      await getOrder(owner, randomUUID()),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe("NOT_FOUND");
    }
    expect((await getOrder(owner, id)).body.status).not.toBe("CANCELLED");
  });

  it("lets the owner cancel before shipping, repeating a cancel answers the same order", async () => {
    const token = await shopper();
    const productId = await newProduct(650, 5);
    const placed = await placeOrder(token, orderOf(productId, 2));
    const cancelled = await api<OrderBody>("POST", `/orders/${placed.body.id}/cancel`, { token });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: "CANCELLED", cancelReason: "CUSTOMER_REQUEST" });
    const again = await api<OrderBody>("POST", `/orders/${placed.body.id}/cancel`, { token });
    expect(again.status).toBe(200);
    expect(again.body.status).toBe("CANCELLED");
    await waitFor(async () => {
      const [level] = await platform.broker.call<{ reserved: number; onHand: number }[], object>(
        "inventory.levels",
        { productIds: [productId] },
      );
      return level.reserved === 0 && level.onHand === 5;
    });
  });

  it("lets admins ship and deliver; customers may not (403)", async () => {
    const token = await shopper();
    const productId = await newProduct(1500);
    const placed = await placeOrder(token, orderOf(productId));
    const id = placed.body.id;
    await waitFor(async () => (await getOrder(token, id)).body.status === "CONFIRMED");
    const patch = (body: object, as = admin) =>
      api<OrderBody>("PATCH", `/orders/${id}/status`, { token: as, body });

    const refused = await patch({ status: "SHIPPED", trackingNumber: "1Z1" }, token);
    expect(refused.status).toBe(403);
    expect(refused.body.error.type).toBe("FORBIDDEN");

    expect((await patch({ status: "DELIVERED" })).status).toBe(409);
    expect((await patch({ status: "SHIPPED" })).status).toBe(400);
    expect((await patch({ status: "SENT" })).status).toBe(400);
    const shipped = await patch({ status: "SHIPPED", trackingNumber: "1Z999AA10123456784" });
    expect(shipped.status).toBe(200);
    expect(shipped.body).toMatchObject({ status: "SHIPPED", trackingNumber: "1Z999AA10123456784" });
    expect((await api<ErrorBody>("POST", `/orders/${id}/cancel`, { token })).status).toBe(409);
    const delivered = await patch({ status: "DELIVERED" });
    expect(delivered.body.status).toBe("DELIVERED");
    expect((await getOrder(token, id)).body).toMatchObject({
      status: "DELIVERED",
      trackingNumber: "1Z999AA10123456784",
    });
  });

  it("lets an operator find orders by the reference of their emails, listing all it may mean", async () => {
    const token = await shopper();
    const productId = await newProduct(500);
    const mine = (await placeOrder(token, orderOf(productId))).body;
    const found = await showOrder(platform.broker, mine.reference.toLowerCase());
    expect(tablesOf(found)[0].title).toBe(`Order ${mine.id} (${mine.reference})`);

    // Eight hex digits can mean more than one order: two more under one reference.
    const db = await infrastructureOf(platform.broker).database("orders");
    const writer = new DecisionWriter(new OrderRepository(db.sequelize), {
      enqueueAll: async (_tx, messages) => messages.map(() => randomUUID()),
    });
    const shared = ["", ""].map((_, i) =>
      orderRecord({ id: `c0ffee00${randomUUID().slice(8)}`, createdAt: Date.now() - i * 1000 }),
    );
    for (const order of shared)
      await db.transaction((tx) => writer.create(tx, placeDomainOrder(order), {}, null));
    const listed = tablesOf(await showOrder(platform.broker, "C0FFEE00"));
    expect(listed).toHaveLength(1);
    expect(listed[0].title).toBe("Orders with the reference C0FFEE00");
    expect(listed[0].rows.map(([id, status, customer]) => [id, status, customer])).toEqual(
      shared.map((o) => [o.id, "PENDING", o.userId]),
    );
    expect(renderReport(await showOrder(platform.broker, "C0FFEE01"))).toBe(
      "No order has the reference C0FFEE01.",
    );
  });

  it("documents the routes in the OpenAPI document", async () => {
    const res = await api<{ paths: Record<string, Record<string, unknown>> }>(
      "GET",
      "/openapi.json",
    );
    expect(Object.keys(res.body.paths["/orders"]).sort()).toEqual(["get", "post"]);
    expect(Object.keys(res.body.paths["/orders/{id}"])).toEqual(["get"]);
    expect(Object.keys(res.body.paths["/orders/{id}/cancel"])).toEqual(["post"]);
    expect(Object.keys(res.body.paths["/orders/{id}/receipt"])).toEqual(["get"]);
    expect(Object.keys(res.body.paths["/orders/{id}/status"])).toEqual(["patch"]);
  });
});
