import { randomUUID } from "node:crypto";
import type { ServiceBroker } from "moleculer";
import type { ProductSnapshot } from "../../lib/contracts/catalog";
import type { PaymentMethodInput } from "../../lib/contracts/orders";
import type { PageOf } from "../../lib/pagination";
import type { OrderSummary, OrderView } from "../../services/orders/domain/order-view";
import { uniqueName } from "../helpers/servers";
import { sleep } from "../helpers/wait";

/**
 * What the fault tests do as shoppers and as the shop: products with known
 * stock, registered customers, checkouts over HTTP with bounded concurrency,
 * and every order a customer can see afterwards.
 */
export const PASSWORD = "correct horse battery staple";

const ADDRESS = {
  name: "Sam Shopper",
  line1: "1 Main Street",
  city: "Springfield",
  postalCode: "12345",
  country: "US",
};

export interface HttpAnswer<T = unknown> {
  /** The HTTP status, or "network" when no answer came (connection refused or reset, timeout). */
  status: number | "network";
  body: T;
  headers: Record<string, string>;
}

export type Api = <T = unknown>(
  method: string,
  path: string,
  opts?: { token?: string; body?: unknown; headers?: Record<string, string> },
) => Promise<HttpAnswer<T>>;

/** JSON over HTTP to `baseUrl` (…/api/v1); a request without an answer resolves as "network". */
export function httpApi(baseUrl: string, timeoutMs = 60_000): Api {
  return async <T>(
    method: string,
    path: string,
    {
      token,
      body,
      headers = {},
    }: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) => {
    const outgoing: Record<string, string> = { ...headers };
    if (token) outgoing.authorization = `Bearer ${token}`;
    if (body !== undefined) outgoing["content-type"] = "application/json";
    try {
      const res = await fetch(baseUrl + path, {
        method,
        headers: outgoing,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      const isJson = (res.headers.get("content-type") ?? "").includes("json");
      return {
        status: res.status,
        headers: Object.fromEntries(res.headers.entries()),
        body: (isJson && text ? JSON.parse(text) : text) as T,
      };
    } catch {
      return { status: "network", headers: {}, body: undefined as T };
    }
  };
}

export interface Shopper {
  email: string;
  token: string;
}

/** Registers and logs in `count` customers, a few at a time (password hashing is slow). */
export async function registerShoppers(api: Api, count: number): Promise<Shopper[]> {
  return inBatches(Array.from({ length: count }), 4, async () => {
    const email = `${uniqueName("shopper").toLowerCase()}@example.com`;
    const registered = await api("POST", "/auth/register", {
      body: { email, password: PASSWORD, name: "Sam Shopper" },
    });
    if (registered.status !== 201) throw new Error(`Registration answered ${registered.status}`);
    const login = await api<{ accessToken: string }>("POST", "/auth/login", {
      body: { email, password: PASSWORD },
    });
    if (login.status !== 200) throw new Error(`Login answered ${login.status}`);
    return { email, token: login.body.accessToken };
  });
}

export interface StockedProduct {
  id: string;
  price: number;
  onHand: number;
}

/** Active products with the given prices (minor units, USD) and stock, in a category of their own. */
export async function stockProducts(
  broker: ServiceBroker,
  specs: { price: number; onHand: number }[],
): Promise<StockedProduct[]> {
  const category = await broker.call<{ id: string }, object>("catalog.createCategory", {
    name: `Category ${uniqueName("c")}`,
  });
  const products: StockedProduct[] = [];
  for (const spec of specs) {
    const product = await broker.call<ProductSnapshot, object>("catalog.createProduct", {
      sku: uniqueName("SKU").replace(/_/g, "-"),
      name: `Product ${uniqueName("p")}`,
      description: "Something to order.",
      brand: "Acme",
      categoryId: category.id,
      price: { amount: spec.price, currency: "USD" },
      status: "active",
    });
    products.push({ id: product.id, ...spec });
  }
  await broker.call("inventory.setStockBulk", {
    levels: products.map((p) => ({ productId: p.id, onHand: p.onHand })),
  });
  return products;
}

export interface Checkout {
  shopper: Shopper;
  key: string;
  body: {
    lines: { productId: string; quantity: number }[];
    shippingAddress: typeof ADDRESS;
    paymentMethod: PaymentMethodInput;
  };
}

/** A checkout of explicit lines, with a fresh Idempotency-Key. */
export function checkoutOf(
  shopper: Shopper,
  lines: { productId: string; quantity: number }[],
  paymentMethod: PaymentMethodInput,
): Checkout {
  return { shopper, key: randomUUID(), body: { lines, shippingAddress: ADDRESS, paymentMethod } };
}

export interface Placed {
  checkout: Checkout;
  answer: HttpAnswer<OrderView>;
}

export function placeOrder(api: Api, checkout: Checkout): Promise<HttpAnswer<OrderView>> {
  return api<OrderView>("POST", "/orders", {
    token: checkout.shopper.token,
    body: checkout.body,
    headers: { "Idempotency-Key": checkout.key },
  });
}

export interface BurstOptions {
  /** Requests in flight at most. */
  concurrency: number;
  /** Checkout n is not sent before n × spacingMs after the start, so the burst lasts a known time. */
  spacingMs?: number;
  /** Sees each answer as it comes, with how many have been answered (to time faults by progress). */
  onPlaced?: (placed: Placed, answered: number) => void;
}

/** Places every checkout, in order, at most `concurrency` at once and at most one per `spacingMs`. */
export async function placeAll(
  api: Api,
  checkouts: Checkout[],
  { concurrency, spacingMs = 0, onPlaced = () => undefined }: BurstOptions,
): Promise<Placed[]> {
  const start = Date.now();
  let answered = 0;
  return inBatches(checkouts, concurrency, async (checkout, n) => {
    await sleep(start + n * spacingMs - Date.now());
    const placed = { checkout, answer: await placeOrder(api, checkout) };
    onPlaced(placed, ++answered);
    return placed;
  });
}

export interface OwnedOrder {
  shopper: Shopper;
  summary: OrderSummary;
}

/** Every order of every shopper, as GET /orders lists them, by id. */
export async function ordersOf(api: Api, shoppers: Shopper[]): Promise<Map<string, OwnedOrder>> {
  const all = new Map<string, OwnedOrder>();
  for (const shopper of shoppers) {
    for (let page = 1; ; page++) {
      const res = await api<PageOf<OrderSummary>>("GET", `/orders?page=${page}&pageSize=100`, {
        token: shopper.token,
      });
      if (res.status !== 200) throw new Error(`GET /orders answered ${res.status}`);
      for (const summary of res.body.items) all.set(summary.id, { shopper, summary });
      if (page * 100 >= res.body.total) break;
    }
  }
  return all;
}

/** Runs `fn` over `items` with at most `limit` at once; results in the items' order. */
export async function inBatches<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
