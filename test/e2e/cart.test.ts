import { randomBytes, randomUUID } from "node:crypto";
import Redis from "ioredis";
import type { ServiceSchema } from "moleculer";
import type {
  CartCheckoutLines,
  CartView,
  MergedCartView,
  NewGuestCart,
} from "../../lib/contracts/cart";
import type { ProductSnapshot } from "../../lib/contracts/catalog";
import type { OrderEventPayload } from "../../lib/contracts/orders";
import { infrastructureOf } from "../../lib/infra";
import { durableChannel, IncomingHeaders } from "../../lib/messaging/channel";
import { createEnvelope, headersFor, MessageEnvelope } from "../../lib/messaging/envelope";
import { EventTypes, Topics } from "../../lib/messaging/topics";
import CartService from "../../services/cart/cart.service";
import type { CartStore } from "../../services/cart/store";
import CatalogService from "../../services/catalog/catalog.service";
import InventoryService from "../../services/inventory/inventory.service";
import UsersService from "../../services/users/users.service";
import {
  Platform,
  accessTokenFor,
  newCustomerToken,
  startPlatform,
  withRealServers,
} from "../helpers/platform";
import { adaptersFor, servers, uniqueName } from "../helpers/servers";
import { startMongoStandin } from "../helpers/mongo-standin";
import { waitFor } from "../helpers/wait";

/**
 * Carts end to end: real HTTP through the gateway, the real users (tokens),
 * catalog (prices, status) and inventory (stock) services, the embedded cart
 * store, and the cart read cache in the key-value port — in process, and on
 * real Redis when TEST_REDIS_URL is set. cart.events are read by a test
 * consumer group; orders.events messages are published here the way the
 * orders service publishes them. Every test makes its own products and
 * shoppers.
 */
// "mongoose": the cart store on MongoDB through Mongoose — a real server when
// TEST_MONGO_URL is set, else the wire-protocol stand-in (none can run here).
const modes = [...adaptersFor("redis"), "mongoose" as const];

async function mongoForTest(): Promise<{ url: string; stop(): Promise<void> }> {
  const real = process.env.TEST_MONGO_URL;
  if (!real) return startMongoStandin();
  const url = new URL(real);
  url.pathname = `/${uniqueName("cart_e2e")}`;
  return { url: url.toString(), stop: async () => undefined };
}

interface ErrorBody {
  error: {
    type: string;
    message: string;
    code: number;
    details: { field?: string; message: string }[];
  };
}
type CartBody = CartView & ErrorBody;

interface Received {
  envelope: MessageEnvelope<{ cartId: string; [k: string]: unknown }>;
  headers: IncomingHeaders;
}

const PASSWORD = "correct horse battery staple";
const MAX_LINES = 50;
const MAX_QUANTITY = 10;

/** Who is asking: a user (bearer token), a guest (cart token), or both (merge). */
interface Shopper {
  token?: string;
  cartToken?: string;
}

describe.each(modes)("cart end to end (%s)", (mode) => {
  const adminEmail = `${uniqueName("admin")}@example.com`;
  const adminPassword = randomBytes(18).toString("base64url");
  const real = mode === "redis" ? withRealServers("redis") : undefined;
  let mongo: { url: string; stop(): Promise<void> } | undefined;
  const received: Received[] = [];
  let platform: Platform;
  let api: Platform["request"];
  let admin: string;
  let categoryId: string;

  const probe: ServiceSchema = {
    name: "cart-events-probe",
    channels: {
      [Topics.CartEvents]: durableChannel<Received["envelope"]["payload"]>(Topics.CartEvents, {
        group: "cart-events-probe",
        handler(envelope, _ctx, headers) {
          received.push({ envelope, headers });
        },
      }),
    },
  };

  beforeAll(async () => {
    if (mode === "mongoose") mongo = await mongoForTest();
    platform = await startPlatform({
      services: [UsersService, CatalogService, InventoryService, CartService, probe],
      env: {
        RATE_LIMIT_MAX: "0",
        AUTH_RATE_LIMIT_MAX: "0",
        ADMIN_EMAIL: adminEmail,
        ADMIN_PASSWORD: adminPassword,
        CHANNELS_PREFIX: uniqueName("cart"),
        RESERVATION_SWEEP_INTERVAL_MS: "0",
        CART_MAX_LINES: String(MAX_LINES),
        CART_MAX_QUANTITY: String(MAX_QUANTITY),
        // Not the catalog's: an empty cart reads in the shop's currency, a cart with lines in theirs.
        SHOP_CURRENCY: "GBP",
        ...real?.env,
        ...(mongo ? { MONGO_URL: mongo.url } : {}),
      },
    });
    api = platform.request;
    admin = await accessTokenFor(platform, adminEmail, adminPassword);
    const category = await api<{ id: string }>("POST", "/categories", {
      token: admin,
      body: { name: `Category ${uniqueName("c")}` },
    });
    expect(category.status).toBe(201);
    categoryId = category.body.id;
  });

  afterAll(async () => {
    await platform?.stop();
    await real?.cleanup();
    await mongo?.stop();
  });

  async function newProduct(
    opts: { amount?: number; currency?: string; status?: string; stock?: number } = {},
  ): Promise<ProductSnapshot> {
    const res = await api<ProductSnapshot>("POST", "/products", {
      token: admin,
      body: {
        sku: uniqueName("SKU").replace(/_/g, "-"),
        name: `Product ${uniqueName("p")}`,
        description: "Something to put in a cart.",
        brand: "Acme",
        categoryId,
        price: { amount: opts.amount ?? 1250, currency: opts.currency ?? "EUR" },
        status: opts.status ?? "active",
      },
    });
    expect(res.status).toBe(201);
    if (opts.stock !== undefined) await setStock(res.body.id, opts.stock);
    return res.body;
  }

  async function setStock(productId: string, onHand: number): Promise<void> {
    const res = await api("PUT", `/products/${productId}/stock`, {
      token: admin,
      body: { onHand },
    });
    expect(res.status).toBe(200);
  }

  function call<T = CartBody>(method: string, path: string, who: Shopper, body?: unknown) {
    return api<T>(method, path, {
      token: who.token,
      headers: who.cartToken ? { "x-cart-token": who.cartToken } : {},
      body,
    });
  }
  const getCart = (who: Shopper) => call("GET", "/cart", who);
  const addItem = (who: Shopper, productId: string, quantity: number, extra: object = {}) =>
    call("POST", "/cart/items", who, { productId, quantity, ...extra });
  const setQuantity = (who: Shopper, productId: string, quantity: unknown) =>
    call("PATCH", `/cart/items/${productId}`, who, { quantity });

  async function newGuest(): Promise<{ cart: NewGuestCart; who: Shopper }> {
    const res = await api<NewGuestCart>("POST", "/cart");
    expect(res.status).toBe(201);
    return { cart: res.body, who: { cartToken: res.body.token } };
  }

  async function newUser(): Promise<Shopper> {
    return { token: await newCustomerToken(platform, PASSWORD) };
  }

  const store = () =>
    (platform.broker.getLocalService("cart") as unknown as { store: CartStore }).store;
  const eventsOf = (cartId: string) =>
    received.filter((r) => r.envelope.aggregateId === cartId).map((r) => r.envelope);

  function expectNotFound(res: { status: number; body: unknown }) {
    expect(res.status).toBe(404);
    expect((res.body as ErrorBody).error).toMatchObject({ type: "NOT_FOUND", code: 404 });
  }

  function expect400(res: { status: number; body: unknown }, field: string) {
    expect(res.status).toBe(400);
    const { error } = res.body as ErrorBody;
    expect(error.type).toBe("VALIDATION");
    expect(error.details.map((d) => d.field)).toContain(field);
  }

  it("lets a guest create a cart, then add, change, remove and clear its lines", async () => {
    const headphones = await newProduct({ amount: 1250, stock: 20 });
    const cable = await newProduct({ amount: 399, stock: 20 });
    const { cart, who } = await newGuest();
    expect(cart).toMatchObject({
      status: "active",
      userId: null,
      items: [],
      subtotal: { amount: 0, currency: "GBP" },
      itemCount: 0,
      version: 1,
    });
    expect(Date.parse(cart.expiresAt!)).toBeGreaterThan(Date.now());
    // <cart id>.<32 random bytes, base64url>: far more than 128 bits nobody can guess.
    const [tokenCartId, secret] = cart.token.split(".");
    expect(tokenCartId).toBe(cart.id);
    expect(Buffer.from(secret, "base64url")).toHaveLength(32);

    const added = await addItem(who, headphones.id, 2);
    expect(added.status).toBe(200);
    expect(added.body).toMatchObject({
      id: cart.id,
      items: [
        {
          productId: headphones.id,
          name: headphones.name,
          quantity: 2,
          unitPrice: { amount: 1250, currency: "EUR" },
          lineTotal: { amount: 2500, currency: "EUR" },
          priceChanged: false,
          available: true,
          availableQuantity: 20,
        },
      ],
      subtotal: { amount: 2500, currency: "EUR" },
      itemCount: 2,
      version: 2,
    });

    // Adding a product the cart has adds to its line.
    expect((await addItem(who, headphones.id, 1)).body.items).toEqual([
      expect.objectContaining({ productId: headphones.id, quantity: 3 }),
    ]);
    await addItem(who, cable.id, 4);
    const changed = await setQuantity(who, headphones.id, 5);
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      items: [
        { productId: headphones.id, quantity: 5, lineTotal: { amount: 6250 } },
        { productId: cable.id, quantity: 4, lineTotal: { amount: 1596 } },
      ],
      subtotal: { amount: 7846, currency: "EUR" },
      itemCount: 9,
    });

    const removed = await call("DELETE", `/cart/items/${headphones.id}`, who);
    expect(removed.status).toBe(200);
    expect(removed.body.items.map((i) => i.productId)).toEqual([cable.id]);
    expectNotFound(await call("DELETE", `/cart/items/${headphones.id}`, who));
    expectNotFound(await setQuantity(who, headphones.id, 2));

    const cleared = await call("DELETE", "/cart", who);
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({
      items: [],
      subtotal: { amount: 0, currency: "GBP" },
      itemCount: 0,
    });
    expect((await getCart(who)).body).toMatchObject({ id: cart.id, items: [], version: 7 });
  });

  it("answers 404 without the cart's token, and never shows or changes another shopper's cart", async () => {
    const product = await newProduct({ stock: 5 });
    const alice = await newGuest();
    const bob = await newGuest();
    await addItem(alice.who, product.id, 1);

    expectNotFound(await getCart({}));
    expectNotFound(await addItem({}, product.id, 1));
    expectNotFound(await getCart({ cartToken: "not-a-token" }));
    expectNotFound(await getCart({ cartToken: randomUUID() }));
    // Alice's cart id with Bob's secret (or a made-up one) is not Alice's token.
    const bobSecret = bob.cart.token.split(".")[1];
    const forged = `${alice.cart.id}.${bobSecret}`;
    expectNotFound(await getCart({ cartToken: forged }));
    expectNotFound(await addItem({ cartToken: forged }, product.id, 3));
    expectNotFound(await call("DELETE", "/cart", { cartToken: forged }));
    expectNotFound(
      await getCart({ cartToken: `${alice.cart.id}.${randomBytes(32).toString("base64url")}` }),
    );
    expect((await getCart(bob.who)).body).toMatchObject({ id: bob.cart.id, items: [] });
    expect((await getCart(alice.who)).body.items).toEqual([
      expect.objectContaining({ productId: product.id, quantity: 1 }),
    ]);

    // Users: each reads their own cart, whatever cart token they send along.
    const carol = await newUser();
    const dave = await newUser();
    await addItem(carol, product.id, 2);
    const daves = await getCart({ ...dave, cartToken: alice.cart.token });
    expect(daves.status).toBe(200);
    expect(daves.body.items).toEqual([]);
    const carols = await getCart(carol);
    expect(daves.body.id).not.toBe(carols.body.id);
    expect(daves.body.id).not.toBe(alice.cart.id);
    // Nor can another user check out Carol's cart.
    await expect(
      platform.broker.call("cart.checkoutLines", { cartId: carols.body.id, userId: randomUUID() }),
    ).rejects.toMatchObject({ code: 404, type: "NOT_FOUND" });
  });

  it("gives a signed-in user one active cart that persists across requests", async () => {
    const product = await newProduct({ stock: 5 });
    const user = await newUser();
    // Several first requests at once still make one cart.
    const first = await Promise.all([getCart(user), getCart(user), getCart(user)]);
    expect(first.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(new Set(first.map((r) => r.body.id)).size).toBe(1);
    const cartId = first[0].body.id;
    expect(first[0].body).toMatchObject({ status: "active", expiresAt: null, items: [] });
    expect(first[0].body.userId).toEqual(expect.any(String));

    const created = await call("POST", "/cart", user);
    expect(created.status).toBe(200);
    expect(created.body.id).toBe(cartId);
    await addItem(user, product.id, 3);
    const again = await getCart(user);
    expect(again.body).toMatchObject({
      id: cartId,
      items: [{ productId: product.id, quantity: 3 }],
    });
    expect((await store().findActiveByUser(again.body.userId!))?.id).toBe(cartId);
  });

  it("merges a guest cart into the user's cart on sign-in, once", async () => {
    const shared = await newProduct({ stock: 50 });
    const guestOnly = await newProduct({ stock: 50 });
    const user = await newUser();
    await addItem(user, shared.id, 4);
    const guest = await newGuest();
    await addItem(guest.who, shared.id, 9);
    await addItem(guest.who, guestOnly.id, 2);

    expect((await call("POST", "/cart/merge", guest.who)).status).toBe(401);
    expectNotFound(await call("POST", "/cart/merge", { token: user.token }));
    expectNotFound(
      await call("POST", "/cart/merge", {
        token: user.token,
        cartToken: `${guest.cart.id}.${randomBytes(32).toString("base64url")}`,
      }),
    );

    const merged = await call<MergedCartView>("POST", "/cart/merge", {
      token: user.token,
      cartToken: guest.cart.token,
    });
    expect(merged.status).toBe(200);
    expect(merged.body.items).toEqual([
      expect.objectContaining({ productId: shared.id, quantity: MAX_QUANTITY }),
      expect.objectContaining({ productId: guestOnly.id, quantity: 2 }),
    ]);
    expect(merged.body.merge).toEqual({
      sourceCartId: guest.cart.id,
      added: [
        { productId: shared.id, quantity: MAX_QUANTITY - 4 },
        { productId: guestOnly.id, quantity: 2 },
      ],
      capped: [{ productId: shared.id, requested: 13, quantity: MAX_QUANTITY }],
      skipped: [],
      alreadyMerged: false,
    });
    // The guest cart is closed.
    expectNotFound(await getCart(guest.who));
    expect(await store().findById(guest.cart.id)).toMatchObject({
      status: "merged",
      mergedInto: merged.body.id,
    });

    // Sending it again changes nothing.
    const repeated = await call<MergedCartView>("POST", "/cart/merge", {
      token: user.token,
      cartToken: guest.cart.token,
    });
    expect(repeated.status).toBe(200);
    expect(repeated.body.merge).toMatchObject({ alreadyMerged: true, added: [] });
    expect(repeated.body.items.map((i) => i.quantity)).toEqual([MAX_QUANTITY, 2]);
    expect(repeated.body.version).toBe(merged.body.version);
    // Nor can another user take it over.
    const other = await newUser();
    expectNotFound(
      await call("POST", "/cart/merge", { token: other.token, cartToken: guest.cart.token }),
    );
  });

  it("refuses bad quantities, unknown or unsold products with a 400 naming the field", async () => {
    const product = await newProduct({ stock: 5 });
    const draft = await newProduct({ status: "draft" });
    const archived = await newProduct();
    expect((await api("DELETE", `/products/${archived.id}`, { token: admin })).status).toBe(204);
    const dollars = await newProduct({ currency: "USD" });
    const { who } = await newGuest();

    for (const quantity of [0, -1, 1.5, "2", null, MAX_QUANTITY + 1])
      expect400(await addItem(who, product.id, quantity as number), "quantity");
    expect400(await call("POST", "/cart/items", who, { productId: product.id }), "quantity");
    for (const productId of [randomUUID(), "not-a-product", draft.id, archived.id])
      expect400(await addItem(who, productId, 1), "productId");

    await addItem(who, product.id, MAX_QUANTITY - 1);
    const over = await addItem(who, product.id, 2);
    expect400(over, "quantity");
    expect(over.body.error.details[0].message).toMatch(`at most ${MAX_QUANTITY}`);
    // One currency per cart.
    expect400(await addItem(who, dollars.id, 1), "productId");
    // PATCH sets a positive quantity; 0 is a DELETE.
    expect400(await setQuantity(who, product.id, 0), "quantity");
    expect400(await setQuantity(who, product.id, MAX_QUANTITY + 1), "quantity");
    expect((await getCart(who)).body.items).toEqual([
      expect.objectContaining({ productId: product.id, quantity: MAX_QUANTITY - 1 }),
    ]);
  });

  it("ignores any price a client sends", async () => {
    const product = await newProduct({ amount: 4999, stock: 5 });
    const { who } = await newGuest();
    const res = await addItem(who, product.id, 1, {
      price: { amount: 1, currency: "EUR" },
      unitPrice: { amount: 1, currency: "EUR" },
    });
    expect(res.status).toBe(200);
    expect(res.body.items[0].unitPrice).toEqual({ amount: 4999, currency: "EUR" });
    expect(res.body.subtotal).toEqual({ amount: 4999, currency: "EUR" });
  });

  it("flags a line whose price changed since the shopper last touched it", async () => {
    const product = await newProduct({ amount: 1000, stock: 10 });
    const { who } = await newGuest();
    await addItem(who, product.id, 2);
    const patched = await api("PATCH", `/products/${product.id}`, {
      token: admin,
      body: { price: { amount: 1200, currency: "EUR" } },
    });
    expect(patched.status).toBe(200);

    const read = await getCart(who);
    expect(read.body).toMatchObject({
      items: [
        {
          unitPrice: { amount: 1200, currency: "EUR" },
          previousUnitPrice: { amount: 1000, currency: "EUR" },
          lineTotal: { amount: 2400 },
          priceChanged: true,
        },
      ],
      subtotal: { amount: 2400 },
      hasPriceChanges: true,
    });
    // Changing the line means the shopper has seen the new price.
    const touched = await setQuantity(who, product.id, 3);
    expect(touched.body.items[0]).toMatchObject({
      priceChanged: false,
      lineTotal: { amount: 3600 },
    });
    expect(touched.body.items[0].previousUnitPrice).toBeUndefined();
    expect(touched.body.hasPriceChanges).toBe(false);
  });

  it("flags lines the shop cannot sell as they stand", async () => {
    const scarce = await newProduct({ stock: 1 });
    const { who } = await newGuest();
    const added = await addItem(who, scarce.id, 2);
    expect(added.body.items[0]).toMatchObject({ available: false, availableQuantity: 1 });
    expect(added.body.hasUnavailableItems).toBe(true);

    await setStock(scarce.id, 5);
    expect((await getCart(who)).body).toMatchObject({
      items: [{ available: true, availableQuantity: 5 }],
      hasUnavailableItems: false,
    });
    await api("DELETE", `/products/${scarce.id}`, { token: admin });
    expect((await getCart(who)).body).toMatchObject({
      items: [{ productId: scarce.id, available: false, availableQuantity: 0 }],
      hasUnavailableItems: true,
    });
  });

  it(`keeps every one of ${MAX_LINES} parallel adds of different products, then refuses one more line`, async () => {
    const products = await Promise.all(
      Array.from({ length: MAX_LINES + 1 }, () => newProduct({ amount: 100 })),
    );
    const user = await newUser();
    const before = await getCart(user);
    const results = await Promise.all(
      products.slice(0, MAX_LINES).map((p) => addItem(user, p.id, 1)),
    );
    expect(results.filter((r) => r.status !== 200).map((r) => r.body)).toEqual([]);

    const after = await getCart(user);
    expect(after.body.items).toHaveLength(MAX_LINES);
    expect(new Set(after.body.items.map((i) => i.productId))).toEqual(
      new Set(products.slice(0, MAX_LINES).map((p) => p.id)),
    );
    expect(after.body.version).toBe(before.body.version + MAX_LINES);
    expect(after.body.subtotal).toEqual({ amount: 100 * MAX_LINES, currency: "EUR" });

    const full = await addItem(user, products[MAX_LINES].id, 1);
    expect400(full, "productId");
    expect(full.body.error.details[0].message).toMatch(`at most ${MAX_LINES}`);
  });

  it("ends parallel quantity changes of one line at one of the requested values", async () => {
    const product = await newProduct({ stock: 50 });
    const { who } = await newGuest();
    const start = await addItem(who, product.id, 1);
    const quantities = Array.from({ length: MAX_QUANTITY - 1 }, (_, i) => i + 2);

    const results = await Promise.all(quantities.map((q) => setQuantity(who, product.id, q)));
    expect(results.map((r) => r.status)).toEqual(quantities.map(() => 200));
    // Every change was written whole, one after another: one version each.
    const versions = results.map((r) => r.body.version).sort((a, b) => a - b);
    expect(versions).toEqual(quantities.map((_, i) => start.body.version + 1 + i));
    const last = results.find((r) => r.body.version === versions[versions.length - 1])!;

    const final = await getCart(who);
    expect(final.body.version).toBe(versions[versions.length - 1]);
    expect(final.body.items).toHaveLength(1);
    expect(quantities).toContain(final.body.items[0].quantity);
    expect(final.body.items[0].quantity).toBe(last.body.items[0].quantity);
  });

  it("serves reads from the cache and drops a cart's entry on every change", async () => {
    const product = await newProduct({ stock: 5 });
    const { cart, who } = await newGuest();
    const kv = infrastructureOf(platform.broker).kv;
    const key = `cart:${cart.id}`;
    const redis = real ? new Redis(servers.redis!) : undefined;
    const rawKey = `${real?.env.REDIS_PREFIX}kv:${key}`;
    try {
      await getCart(who);
      expect(JSON.parse((await kv.get(key))!)).toMatchObject({ id: cart.id, version: 1 });
      if (redis) expect(await redis.exists(rawKey)).toBe(1);

      await addItem(who, product.id, 2);
      expect(await kv.get(key)).toBeNull();
      if (redis) expect(await redis.exists(rawKey)).toBe(0);
      expect((await getCart(who)).body).toMatchObject({ version: 2, items: [{ quantity: 2 }] });
      expect(JSON.parse((await kv.get(key))!)).toMatchObject({ version: 2 });

      await setQuantity(who, product.id, 3);
      expect(await kv.get(key)).toBeNull();
      expect((await getCart(who)).body).toMatchObject({ version: 3, items: [{ quantity: 3 }] });
      if (redis) expect(await redis.pttl(rawKey)).toBeGreaterThan(0);
    } finally {
      redis?.disconnect();
    }
  });

  it("publishes every change on cart.events with the request's correlation id", async () => {
    const a = await newProduct({ stock: 5 });
    const b = await newProduct({ stock: 5 });
    const { cart } = await newGuest();
    const requestId = `cart-events-${randomUUID()}`;
    const traced = (method: string, path: string, body?: unknown) =>
      api(method, path, {
        headers: { "x-cart-token": cart.token, "x-request-id": requestId },
        body,
      });
    await traced("POST", "/cart/items", { productId: a.id, quantity: 2 });
    await traced("POST", "/cart/items", { productId: b.id, quantity: 1 });
    await traced("PATCH", `/cart/items/${a.id}`, { quantity: 1 });
    await traced("DELETE", `/cart/items/${b.id}`);
    await traced("DELETE", "/cart");

    const events = await waitFor(() => {
      const got = eventsOf(cart.id);
      return got.length >= 5 && got;
    });
    const item = (type: string, productId: string, quantity: number) => ({
      type,
      payload: { cartId: cart.id, userId: null, productId, quantity },
    });
    expect(events).toHaveLength(5);
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining(item(EventTypes.CartItemAdded, a.id, 2)),
        expect.objectContaining(item(EventTypes.CartItemAdded, b.id, 1)),
        expect.objectContaining(item(EventTypes.CartItemRemoved, a.id, 1)),
        expect.objectContaining(item(EventTypes.CartItemRemoved, b.id, 0)),
        expect.objectContaining({
          type: EventTypes.CartCleared,
          payload: { cartId: cart.id, userId: null },
        }),
      ]),
    );
    for (const { envelope, headers } of received.filter(
      (r) => r.envelope.aggregateId === cart.id,
    )) {
      expect(headers).toMatchObject({
        messageId: envelope.id,
        correlationId: requestId,
        source: "cart",
      });
    }
    // Published events leave the document's outbox.
    await waitFor(async () => (await store().findById(cart.id))?.pendingEvents.length === 0);
  });

  it("closes the cart an order was created from, once, and starts a new one", async () => {
    const product = await newProduct({ stock: 5 });
    const user = await newUser();
    await addItem(user, product.id, 2);
    const cart = (await getCart(user)).body;
    const userId = cart.userId!;

    const lines = await platform.broker.call<CartCheckoutLines, object>("cart.checkoutLines", {
      cartId: cart.id,
      userId,
    });
    expect(lines).toEqual({
      cartId: cart.id,
      userId,
      lines: [{ productId: product.id, quantity: 2 }],
    });

    const orderId = randomUUID();
    const orderCreated = orderCreatedMessage({ orderId, userId, cartId: cart.id });
    await sendOrderEvent(orderCreated);
    const converted = await waitFor(() =>
      eventsOf(cart.id).find((e) => e.type === EventTypes.CartConverted),
    );
    expect(converted.payload).toEqual({ cartId: cart.id, userId, orderId });
    expect(await store().findById(cart.id)).toMatchObject({ status: "converted", orderId });

    // The next read starts a new, empty cart; the old one cannot be checked out again.
    const next = await getCart(user);
    expect(next.body).toMatchObject({ status: "active", items: [] });
    expect(next.body.id).not.toBe(cart.id);
    await expect(
      platform.broker.call("cart.checkoutLines", { cartId: cart.id, userId }),
    ).rejects.toMatchObject({ code: 404 });

    // A redelivered OrderCreated changes nothing: once a later message is through, still one event.
    await sendOrderEvent(orderCreated);
    const marker = await newUser();
    await addItem(marker, product.id, 1);
    const markerCart = (await getCart(marker)).body;
    await sendOrderEvent(
      orderCreatedMessage({
        orderId: randomUUID(),
        userId: markerCart.userId!,
        cartId: markerCart.id,
      }),
    );
    await waitFor(() => eventsOf(markerCart.id).some((e) => e.type === EventTypes.CartConverted));
    expect(eventsOf(cart.id).filter((e) => e.type === EventTypes.CartConverted)).toHaveLength(1);
    expect((await getCart(user)).body.id).toBe(next.body.id);
  });

  it("refuses to check out an empty cart", async () => {
    const user = await newUser();
    const cart = (await getCart(user)).body;
    await expect(
      platform.broker.call("cart.checkoutLines", { cartId: cart.id, userId: cart.userId }),
    ).rejects.toMatchObject({ code: 400, type: "VALIDATION" });
  });

  it("documents the routes in the OpenAPI document", async () => {
    const res = await api<{ paths: Record<string, Record<string, unknown>> }>(
      "GET",
      "/openapi.json",
    );
    expect(Object.keys(res.body.paths["/cart"]).sort()).toEqual(["delete", "get", "post"]);
    expect(Object.keys(res.body.paths["/cart/items"])).toEqual(["post"]);
    expect(Object.keys(res.body.paths["/cart/items/{productId}"]).sort()).toEqual([
      "delete",
      "patch",
    ]);
    expect(Object.keys(res.body.paths["/cart/merge"])).toEqual(["post"]);
  });

  function orderCreatedMessage(order: { orderId: string; userId: string; cartId: string }) {
    const payload: OrderEventPayload = {
      ...order,
      status: "PENDING",
      total: { amount: 2500, currency: "EUR" },
      lines: [],
    };
    const envelope = createEnvelope({
      type: EventTypes.OrderCreated,
      aggregateId: order.orderId,
      payload,
    });
    const headers = headersFor(envelope, { source: "orders", sagaId: order.orderId });
    return { envelope, headers: { ...headers } as Record<string, string> };
  }

  function sendOrderEvent(message: ReturnType<typeof orderCreatedMessage>): Promise<void> {
    return platform.broker.sendToChannel(Topics.OrdersEvents, message.envelope, {
      key: message.envelope.aggregateId,
      headers: message.headers,
    });
  }
});

describe("abandoned guest carts", () => {
  let platform: Platform;

  beforeAll(async () => {
    platform = await startPlatform({
      services: [CartService],
      env: {
        RATE_LIMIT_MAX: "0",
        CHANNELS_PREFIX: uniqueName("cart-expiry"),
        CART_GUEST_TTL_SEC: "1",
        CART_SWEEP_INTERVAL_MS: "100",
      },
    });
  });

  afterAll(async () => {
    await platform?.stop();
  });

  it("expire after CART_GUEST_TTL_SEC: their token then finds nothing (404)", async () => {
    const created = await platform.request<NewGuestCart>("POST", "/cart");
    expect(created.status).toBe(201);
    const headers = { "x-cart-token": created.body.token };
    expect((await platform.request("GET", "/cart", { headers })).status).toBe(200);

    const store = (platform.broker.getLocalService("cart") as unknown as { store: CartStore })
      .store;
    await waitFor(async () => (await store.findById(created.body.id))?.status === "expired", {
      timeoutMs: 5000,
    });
    const gone = await platform.request<ErrorBody>("GET", "/cart", { headers });
    expect(gone.status).toBe(404);
    expect(gone.body.error.type).toBe("NOT_FOUND");
  });
});
