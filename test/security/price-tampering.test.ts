import { randomUUID } from "node:crypto";
import type { Money } from "../../lib/contracts/catalog";
import { waitFor } from "../helpers/wait";
import { expectNoCardDataAtRest } from "./card-data-scan";
import { toJsonText } from "./fuzz-requests";
import { ADDRESS, Customer, SecurityPlatform, startSecurityPlatform, USD } from "./platform";

/**
 * Price tampering: whatever prices, totals, discounts or currency a client
 * puts in cart and order bodies — as extra fields, nested in objects, inside
 * order lines, or smuggled as `__proto__` keys — the cart shows catalog
 * prices, the order totals catalog price × quantity, and the payment
 * provider is charged exactly that, once, in the catalog's currency.
 */
interface OrderView {
  id: string;
  status: string;
  total: Money;
  subtotal: Money;
  lines: { productId: string; quantity: number; unitPrice: Money; lineTotal: Money }[];
}
interface CartView {
  id: string;
  subtotal: Money;
  items: { productId: string; quantity: number; unitPrice: Money; lineTotal: Money }[];
}

const LAMP = 4999;
const BULB = 350;

/** Fields a client might hope the shop believes, at any level. */
const tampering = {
  price: 1,
  unitPrice: { amount: 1, currency: "EUR" },
  lineTotal: { amount: 1, currency: "EUR" },
  total: { amount: 1, currency: "EUR" },
  subtotal: { amount: 1, currency: "EUR" },
  discount: { amount: LAMP * 10, currency: "USD" },
  amount: 1,
  currency: "EUR",
};

/** JSON text with `__proto__` as an own key, as a hostile client writes it. */
function withProtoKey(body: object, proto: object): string {
  const text = toJsonText(body);
  return `{"__proto__":${JSON.stringify(proto)},${text.slice(1)}`;
}

describe("price tampering", () => {
  let sec: SecurityPlatform;
  let shopper: Customer;
  let lamp: string;
  let bulb: string;

  beforeAll(async () => {
    sec = await startSecurityPlatform();
    shopper = await sec.customer();
    lamp = await sec.product(USD(LAMP));
    bulb = await sec.product(USD(BULB));
  }, 60_000);

  afterAll(async () => {
    await sec?.stop();
  });

  async function placeOrder(body: unknown, key = randomUUID()) {
    return sec.api<OrderView>("POST", "/orders", {
      token: shopper.token,
      headers: { "Idempotency-Key": key },
      body,
    });
  }

  /** Waits for the saga to settle the order, then returns it with every charge the provider made. */
  async function chargedOrder(orderId: string) {
    const order = await waitFor(
      async () => {
        const res = await sec.api<OrderView>("GET", `/orders/${orderId}`, {
          token: shopper.token,
        });
        return res.body.status === "CONFIRMED" ? res.body : undefined;
      },
      { timeoutMs: 15_000 },
    );
    const payment = await sec.api<{ amount: Money; status: string }>(
      "GET",
      `/payments/${orderId}`,
      { token: shopper.token },
    );
    return { order, payment: payment.body, charges: await sec.chargesFor(orderId) };
  }

  function expectCharged(result: Awaited<ReturnType<typeof chargedOrder>>, amount: number): void {
    expect(result.order.total).toEqual(USD(amount));
    expect(result.payment).toMatchObject({ status: "SUCCEEDED", amount: USD(amount) });
    expect(result.charges.map((c) => ({ amount: c.amount, currency: c.currency }))).toEqual([
      { amount, currency: "usd" },
    ]);
  }

  it("cart: prices and totals a client sends are ignored; lines show catalog prices", async () => {
    const guest = await sec.api<CartView & { token: string }>("POST", "/cart");
    const cartToken = { "x-cart-token": guest.body.token };
    const added = await sec.api<CartView>("POST", "/cart/items", {
      headers: { ...cartToken, "content-type": "application/json" },
      body: withProtoKey({ productId: lamp, quantity: 2, ...tampering }, { unitPrice: USD(1) }),
    });
    expect(added.status).toBe(200);
    const changed = await sec.api<CartView>("PATCH", `/cart/items/${bulb}`, {
      headers: cartToken,
      body: { quantity: 1, ...tampering },
    });
    // Not in the cart yet: 404, and the tampering changed nothing.
    expect(changed.status).toBe(404);
    const withBulb = await sec.api<CartView>("POST", "/cart/items", {
      headers: cartToken,
      body: { productId: bulb, quantity: 3, item: tampering, lines: [tampering] },
    });
    expect(withBulb.status).toBe(200);
    const patched = await sec.api<CartView>("PATCH", `/cart/items/${bulb}`, {
      headers: cartToken,
      body: { quantity: 4, ...tampering },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          productId: lamp,
          quantity: 2,
          unitPrice: USD(LAMP),
          lineTotal: USD(2 * LAMP),
        }),
        expect.objectContaining({
          productId: bulb,
          quantity: 4,
          unitPrice: USD(BULB),
          lineTotal: USD(4 * BULB),
        }),
      ]),
    );
    expect(patched.body.subtotal).toEqual(USD(2 * LAMP + 4 * BULB));
  });

  it("checkout from the cart: the order total and the charge are catalog price × quantity", async () => {
    await sec.api("POST", "/cart/items", {
      token: shopper.token,
      body: { productId: lamp, quantity: 1, ...tampering },
    });
    const cart = await sec.api<CartView>("POST", "/cart/items", {
      token: shopper.token,
      body: { productId: bulb, quantity: 2, ...tampering },
    });
    const res = await placeOrder({
      cartId: cart.body.id,
      shippingAddress: { ...ADDRESS, ...tampering },
      paymentMethod: { type: "card", token: "tok_visa", ...tampering },
      ...tampering,
      items: [{ productId: lamp, quantity: 1, ...tampering }],
    });
    expect(res.status).toBe(201);
    expectCharged(await chargedOrder(res.body.id), LAMP + 2 * BULB);
  });

  it("checkout from lines: prices inside the lines, nested or as __proto__, change nothing", async () => {
    const body = {
      lines: [
        { productId: lamp, quantity: 3, ...tampering },
        { productId: bulb, quantity: 1, unitPrice: USD(0), lineTotal: USD(0), discount: 100 },
      ],
      shippingAddress: ADDRESS,
      paymentMethod: { type: "card", token: "tok_visa" },
      ...tampering,
    };
    const text = withProtoKey(body, { total: USD(1), subtotal: USD(1), currency: "EUR" });
    const res = await sec.api<OrderView>("POST", "/orders", {
      token: shopper.token,
      headers: { "Idempotency-Key": randomUUID(), "content-type": "application/json" },
      body: text,
    });
    expect(res.status).toBe(201);
    expect(res.body.lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          productId: lamp,
          unitPrice: USD(LAMP),
          lineTotal: USD(3 * LAMP),
        }),
        expect.objectContaining({ productId: bulb, unitPrice: USD(BULB), lineTotal: USD(BULB) }),
      ]),
    );
    expectCharged(await chargedOrder(res.body.id), 3 * LAMP + BULB);
  });

  it("replaying an order's key with other prices charges nothing more", async () => {
    const key = randomUUID();
    const order = {
      lines: [{ productId: bulb, quantity: 2 }],
      shippingAddress: ADDRESS,
      paymentMethod: { type: "card", token: "tok_visa" },
    };
    const first = await placeOrder(order, key);
    expect(first.status).toBe(201);
    await chargedOrder(first.body.id);
    const replay = await placeOrder(
      { ...order, lines: [{ productId: bulb, quantity: 2, unitPrice: USD(1) }], total: USD(1) },
      key,
    );
    // Either the stored answer (prices are dropped before the request is compared) or 422.
    if (replay.status < 300) expect(replay.body.id).toBe(first.body.id);
    else expect(replay.status).toBe(422);
    expectCharged(await chargedOrder(first.body.id), 2 * BULB);
  });

  it("a line priced in another currency cannot be forced into the order", async () => {
    const res = await placeOrder({
      lines: [{ productId: lamp, quantity: 1, unitPrice: { amount: 1, currency: "JPY" } }],
      shippingAddress: ADDRESS,
      paymentMethod: { type: "card", token: "tok_visa", currency: "JPY" },
      currency: "JPY",
    });
    expect(res.status).toBe(201);
    expect(res.body.total).toEqual(USD(LAMP));
    expectCharged(await chargedOrder(res.body.id), LAMP);
  });

  it("keeps no card number or security code at rest", async () => {
    await expectNoCardDataAtRest(sec);
  }, 30_000);
});
