import { randomUUID } from "node:crypto";
import type { PlatformResponse } from "../helpers/platform";
import { uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";
import { expectNoCardDataAtRest } from "./card-data-scan";
import { OpenApiDocument, operationsOf } from "./fuzz-requests";
import {
  ADDRESS,
  Customer,
  ErrorEnvelope,
  isErrorEnvelope,
  SecurityPlatform,
  startSecurityPlatform,
  USD,
} from "./platform";

/**
 * Object-level authorization (ARCHITECTURE §8), as a matrix generated from
 * the running node's OpenAPI document: every route with a path parameter
 * and every admin route must have a case below, or the suite fails before
 * running any. Shopper A owns an address, a cart (as user and as guest), a
 * paid order and its payment; shopper B tries every such route on A's
 * objects and gets what a route answers for an id that does not exist — a
 * 404 that tells nothing, with none of A's data — and a customer gets 403
 * on every admin route (anonymous: 401). Afterwards A's objects are as they
 * were.
 */
interface Objects {
  productId: string;
  categoryId: string;
  addressId: string;
  orderId: string;
  paymentId: string;
  /** A's guest cart. */
  guestCart: { id: string; token: string };
}

type CaseKind =
  /** A's object: B gets the answer of a missing object. */
  | "owned"
  /** Admin only: a customer gets 403, nobody 401. */
  | "admin"
  /** Catalog objects everyone may read: the same answer whoever asks, nothing of a user. */
  | "public"
  /** A line of A's cart, reached through B's own cart or a forged cart token. */
  | "cart-line";

interface Case {
  kind: CaseKind;
  /** The concrete path(s) aimed at A's objects. */
  paths(o: Objects): string[];
  body?: unknown;
}

const owned = (paths: Case["paths"], body?: unknown): Case => ({ kind: "owned", paths, body });
const admin = (paths: Case["paths"], body?: unknown): Case => ({ kind: "admin", paths, body });

/** Every route with a path parameter and every admin route. A new one needs a row here. */
const CASES: Record<string, Case> = {
  "GET /orders/{id}": owned((o) => [`/orders/${o.orderId}`]),
  "POST /orders/{id}/cancel": owned((o) => [`/orders/${o.orderId}/cancel`], {}),
  "GET /orders/{id}/receipt": owned((o) => [`/orders/${o.orderId}/receipt`]),
  "GET /payments/{id}": owned((o) => [`/payments/${o.paymentId}`, `/payments/${o.orderId}`]),
  "GET /users/me/addresses/{id}": owned((o) => [`/users/me/addresses/${o.addressId}`]),
  "PATCH /users/me/addresses/{id}": owned((o) => [`/users/me/addresses/${o.addressId}`], {
    city: "Elsewhere",
  }),
  "DELETE /users/me/addresses/{id}": owned((o) => [`/users/me/addresses/${o.addressId}`]),
  "PATCH /cart/items/{productId}": {
    kind: "cart-line",
    paths: (o) => [`/cart/items/${o.productId}`],
    body: { quantity: 7 },
  },
  "DELETE /cart/items/{productId}": {
    kind: "cart-line",
    paths: (o) => [`/cart/items/${o.productId}`],
  },
  "GET /categories/{idOrSlug}": { kind: "public", paths: (o) => [`/categories/${o.categoryId}`] },
  "GET /products/{idOrSlug}": { kind: "public", paths: (o) => [`/products/${o.productId}`] },
  "PATCH /orders/{id}/status": admin((o) => [`/orders/${o.orderId}/status`], {
    status: "SHIPPED",
    trackingNumber: "TRACK-1",
  }),
  "POST /products": admin(() => ["/products"], {
    sku: "FORGED-1",
    name: "Forged",
    brand: "Acme",
    categoryId: randomUUID(),
    price: USD(1),
  }),
  "PATCH /products/{id}": admin((o) => [`/products/${o.productId}`], { price: USD(1) }),
  "DELETE /products/{id}": admin((o) => [`/products/${o.productId}`]),
  "GET /products/{id}/stock": admin((o) => [`/products/${o.productId}/stock`]),
  "PUT /products/{id}/stock": admin((o) => [`/products/${o.productId}/stock`], { onHand: 0 }),
  "POST /categories": admin(() => ["/categories"], { name: "Forged" }),
  "PATCH /categories/{id}": admin((o) => [`/categories/${o.categoryId}`], { name: "Renamed" }),
  "GET /notifications": admin(() => ["/notifications"]),
  "POST /search/rebuild": admin(() => ["/search/rebuild"], {}),
  "GET /search/status": admin(() => ["/search/status"]),
};

const PRICE = USD(2500);

describe("authorization matrix", () => {
  let sec: SecurityPlatform;
  let a: Customer;
  let b: Customer;
  let objects: Objects;
  /** Text of A's that must never appear in an answer to anyone else. */
  let secretsOfA: string[];
  let routesNeedingCases: string[];
  let adminRoutes: Set<string>;
  let snapshotOfA: Record<string, unknown>;

  beforeAll(async () => {
    sec = await startSecurityPlatform();
    const doc = await sec.api<OpenApiDocument>("GET", "/openapi.json");
    const operations = operationsOf(doc.body);
    const key = (op: { method: string; path: string }) => `${op.method} ${op.path}`;
    routesNeedingCases = operations
      .filter((op) => op.pathParams.length > 0 || op.auth === "admin")
      .map(key)
      .sort();
    adminRoutes = new Set(operations.filter((op) => op.auth === "admin").map(key));
    [a, b] = [await sec.customer(), await sec.customer()];
    objects = await objectsOfA();
    snapshotOfA = await settled(whatAOwns);
  }, 60_000);

  afterAll(async () => {
    await sec?.stop();
  });

  async function objectsOfA(): Promise<Objects> {
    const productId = await sec.product(PRICE);
    const street = `${uniqueName("Secret Street")} 1`;
    const address = await sec.api<{ id: string }>("POST", "/users/me/addresses", {
      token: a.token,
      body: {
        name: "Alice Owner",
        line1: street,
        city: "Owner City",
        postalCode: "10115",
        country: "DE",
      },
    });
    expect(address.status).toBe(201);
    const order = await sec.api<{ id: string }>("POST", "/orders", {
      token: a.token,
      headers: { "Idempotency-Key": randomUUID() },
      body: {
        lines: [{ productId, quantity: 1 }],
        shippingAddressId: address.body.id,
        paymentMethod: { type: "card", token: "tok_visa" },
      },
    });
    expect(order.status).toBe(201);
    const payment = await waitFor(
      async () => {
        const res = await sec.api<{ id: string; status: string }>(
          "GET",
          `/payments/${order.body.id}`,
          { token: a.token },
        );
        return res.status === 200 && res.body.status === "SUCCEEDED" ? res.body : undefined;
      },
      { timeoutMs: 15_000 },
    );
    // The order is confirmed once the saga has seen the payment.
    await waitFor(
      async () =>
        (await sec.api<{ status: string }>("GET", `/orders/${order.body.id}`, { token: a.token }))
          .body.status === "CONFIRMED",
      { timeoutMs: 15_000 },
    );
    // A's cart as a user, and a guest cart whose token only A holds.
    expect(
      (
        await sec.api("POST", "/cart/items", {
          token: a.token,
          body: { productId, quantity: 2 },
        })
      ).status,
    ).toBe(200);
    const guest = await sec.api<{ id: string; token: string }>("POST", "/cart");
    expect(
      (
        await sec.api("POST", "/cart/items", {
          headers: { "x-cart-token": guest.body.token },
          body: { productId, quantity: 3 },
        })
      ).status,
    ).toBe(200);
    secretsOfA = [a.id, a.email, street, "Alice Owner", order.body.id, payment.id, guest.body.id];
    return {
      productId,
      categoryId: sec.categoryId,
      addressId: address.body.id,
      orderId: order.body.id,
      paymentId: payment.id,
      guestCart: guest.body,
    };
  }

  /** What A (and the shop) can see of A's objects; compared before and after the attacks. */
  async function whatAOwns(): Promise<Record<string, unknown>> {
    const asA = (path: string) => sec.api("GET", path, { token: a.token });
    const seen = (res: PlatformResponse) => ({ status: res.status, body: res.body });
    const [order, address, payment, cart, guestCart, product, stock] = await Promise.all([
      asA(`/orders/${objects.orderId}`),
      asA(`/users/me/addresses/${objects.addressId}`),
      asA(`/payments/${objects.paymentId}`),
      asA("/cart"),
      sec.api("GET", "/cart", { headers: { "x-cart-token": objects.guestCart.token } }),
      sec.api("GET", `/products/${objects.productId}`),
      sec.api("GET", `/products/${objects.productId}/stock`, { token: sec.admin.token }),
    ]);
    return {
      order: seen(order),
      address: seen(address),
      payment: seen(payment),
      cart: seen(cart),
      guestCart: seen(guestCart),
      product: seen(product),
      stock: seen(stock),
    };
  }

  /** A snapshot once the saga's last steps (stock commit, catalog availability) are done. */
  async function settled<T extends object>(read: () => Promise<T>): Promise<T> {
    let previous = JSON.stringify(await read());
    return waitFor<T | undefined>(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 150));
        const current = await read();
        const same = JSON.stringify(current) === previous;
        previous = JSON.stringify(current);
        return same ? current : undefined;
      },
      { timeoutMs: 15_000 },
    );
  }

  function expectNothingOfA(res: PlatformResponse): void {
    const text = JSON.stringify(res.body);
    for (const secret of secretsOfA) expect(text).not.toContain(secret);
  }

  /** The same answer ignoring the request id: nothing tells an existing object from a missing one. */
  function expectSameAnswer(res: PlatformResponse, missing: PlatformResponse): void {
    expect(res.status).toBe(missing.status);
    const withoutId = (r: PlatformResponse) => {
      const body = r.body as ErrorEnvelope;
      return { ...body, error: { ...body.error, requestId: "" } };
    };
    expect(withoutId(res)).toEqual(withoutId(missing));
  }

  /** A's ids in a path replaced by fresh ones: the same route on objects that do not exist. */
  function missingTwin(path: string): string {
    let twin = path;
    for (const id of [
      objects.orderId,
      objects.paymentId,
      objects.addressId,
      objects.productId,
      objects.categoryId,
    ])
      twin = twin.replace(id, randomUUID());
    return twin;
  }

  it("has a case for every route with a path parameter and every admin route of the document", () => {
    expect(routesNeedingCases.length).toBeGreaterThan(15);
    expect(Object.keys(CASES).sort()).toEqual(routesNeedingCases);
    for (const [route, c] of Object.entries(CASES))
      expect([route, adminRoutes.has(route)]).toEqual([route, c.kind === "admin"]);
  });

  it.each(Object.entries(CASES).filter(([, c]) => c.kind === "owned"))(
    "%s: another customer gets a 404 like for a missing object, with none of the owner's data",
    async (route, c) => {
      const method = route.split(" ")[0];
      for (const path of c.paths(objects)) {
        const res = await sec.api(method, path, { token: b.token, body: c.body });
        const missing = await sec.api(method, missingTwin(path), { token: b.token, body: c.body });
        expect([403, 404]).toContain(res.status);
        expect(isErrorEnvelope(res)).toBe(true);
        expectSameAnswer(res, missing);
        expectNothingOfA(res);
        // Nobody at all: 401 before anything is looked up.
        const anonymous = await sec.api(method, path, { body: c.body });
        expect(anonymous.status).toBe(401);
        expectNothingOfA(anonymous);
      }
    },
  );

  it.each(Object.entries(CASES).filter(([, c]) => c.kind === "admin"))(
    "%s: a customer gets 403 and nobody 401, with no data",
    async (route, c) => {
      const method = route.split(" ")[0];
      for (const path of c.paths(objects)) {
        for (const token of [a.token, b.token]) {
          const res = await sec.api<ErrorEnvelope>(method, path, { token, body: c.body });
          expect(res.status).toBe(403);
          expect(res.body.error.type).toBe("FORBIDDEN");
          expectNothingOfA(res);
        }
        const anonymous = await sec.api<ErrorEnvelope>(method, path, { body: c.body });
        expect(anonymous.status).toBe(401);
        expect(isErrorEnvelope(anonymous)).toBe(true);
      }
    },
  );

  it.each(Object.entries(CASES).filter(([, c]) => c.kind === "public"))(
    "%s: the same answer for anyone, with nothing of a user in it",
    async (route, c) => {
      const method = route.split(" ")[0];
      for (const path of c.paths(objects)) {
        const [anonymous, asA, asB] = await Promise.all([
          sec.api(method, path),
          sec.api(method, path, { token: a.token }),
          sec.api(method, path, { token: b.token }),
        ]);
        expect(anonymous.status).toBe(200);
        expect(asA.body).toEqual(anonymous.body);
        expect(asB.body).toEqual(anonymous.body);
        expectNothingOfA(anonymous);
      }
    },
  );

  it.each(Object.entries(CASES).filter(([, c]) => c.kind === "cart-line"))(
    "%s: reaches only the caller's own cart — never A's, by user token or a forged cart token",
    async (route, c) => {
      const method = route.split(" ")[0];
      const [cartId] = objects.guestCart.token.split(".");
      const forgedToken = `${cartId}.${"A".repeat(43)}`;
      const bGuest = await sec.api<{ token: string }>("POST", "/cart");
      for (const path of c.paths(objects)) {
        const attempts = [
          { token: b.token }, // B's own (empty) user cart
          { headers: { "x-cart-token": bGuest.body.token } }, // B's own guest cart
          { headers: { "x-cart-token": forgedToken } }, // A's cart id, a guessed secret
          { headers: { "x-cart-token": cartId } }, // A's cart id alone
        ];
        for (const who of attempts) {
          const res = await sec.api(method, path, { ...who, body: c.body });
          expect(res.status).toBe(404);
          expect(isErrorEnvelope(res)).toBe(true);
          expectNothingOfA(res);
        }
      }
      // Reading with a forged token shows nothing either.
      const read = await sec.api("GET", "/cart", { headers: { "x-cart-token": forgedToken } });
      expect(read.status).toBe(404);
      expectNothingOfA(read);
    },
  );

  it("lists show only the caller's own objects, and ids of A's objects in a body reach nothing", async () => {
    const orders = await sec.api<{ items: { id: string }[] }>("GET", "/orders", { token: b.token });
    const addresses = await sec.api<{ items: { id: string }[] }>("GET", "/users/me/addresses", {
      token: b.token,
    });
    expect(orders.body.items).toEqual([]);
    expect(addresses.body.items).toEqual([]);
    expectNothingOfA(orders);
    expectNothingOfA(addresses);

    // B checks out A's guest cart by its id, or ships to A's saved address.
    const withACart = await sec.api("POST", "/orders", {
      token: b.token,
      headers: { "Idempotency-Key": randomUUID() },
      body: {
        cartId: objects.guestCart.id,
        shippingAddress: ADDRESS,
        paymentMethod: { type: "cash_on_delivery" },
      },
    });
    const withAAddress = await sec.api("POST", "/orders", {
      token: b.token,
      headers: { "Idempotency-Key": randomUUID() },
      body: {
        lines: [{ productId: objects.productId, quantity: 1 }],
        shippingAddressId: objects.addressId,
        paymentMethod: { type: "cash_on_delivery" },
      },
    });
    for (const res of [withACart, withAAddress]) {
      expect([400, 404]).toContain(res.status);
      expectNothingOfA(res);
    }
    // Merging needs the guest cart's real token; a forged one merges nothing.
    const [cartId] = objects.guestCart.token.split(".");
    const merge = await sec.api("POST", "/cart/merge", {
      token: b.token,
      headers: { "x-cart-token": `${cartId}.${"B".repeat(43)}` },
    });
    expect(merge.status).toBe(404);
    expectNothingOfA(merge);
    expect(
      (await sec.api<{ items: { id: string }[] }>("GET", "/orders", { token: b.token })).body.items,
    ).toEqual([]);
  });

  it("leaves every object of A's as it was", async () => {
    expect(await whatAOwns()).toEqual(snapshotOfA);
  });

  it("keeps no card number or security code at rest", async () => {
    await expectNoCardDataAtRest(sec);
  }, 30_000);
});
