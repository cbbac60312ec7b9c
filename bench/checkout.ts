/**
 * The checkout scenario: shoppers place orders (card `tok_visa` at the
 * sandbox provider) and wait for each to be CONFIRMED. It measures what a
 * shop owner cares about: orders per second that reach CONFIRMED, and the
 * time from `POST /orders` to CONFIRMED (p50/p99), the whole saga included
 * (reserve stock → charge → commit).
 *
 * Each of `shoppers` workers registers its own customer, then loops: place an
 * order of one in-stock product, wait for the outcome as a storefront does
 * (`GET /orders/:id?whileStatus=PENDING,AWAITING_PAYMENT&wait=8`: the answer
 * comes as soon as the order leaves those statuses), repeat, until
 * `durationSec` is over.
 */
import { randomUUID } from "node:crypto";

export interface CheckoutResult {
  placed: number;
  confirmed: number;
  cancelled: number;
  /** Orders that reached neither state in time, and requests refused. */
  failed: number;
  confirmedPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

interface ProductPage {
  items: { id: string; status?: string; available?: number }[];
}

const ADDRESS = {
  name: "Bench Shopper",
  line1: "1 Load Street",
  city: "Springfield",
  postalCode: "12345",
  country: "US",
};
const WAIT_SEC = 8;
const IN_PROGRESS = "PENDING,AWAITING_PAYMENT";
const ORDER_DEADLINE_MS = 30_000;

export async function measureCheckout(
  baseUrl: string,
  opts: { durationSec: number; shoppers: number; onLoadStart?: () => void },
): Promise<CheckoutResult> {
  const api = `${baseUrl}/api/v1`;
  const productIds = await inStockProducts(api);
  if (!productIds.length) throw new Error("checkout: no product in stock to order");
  const tokens = await Promise.all(
    Array.from({ length: opts.shoppers }, () => registerShopper(api)),
  );

  const latencies: number[] = [];
  const counts = { placed: 0, confirmed: 0, cancelled: 0, failed: 0 };
  opts.onLoadStart?.();
  const started = Date.now();
  const endAt = started + opts.durationSec * 1000;
  let next = 0;

  await Promise.all(
    tokens.map(async (token) => {
      while (Date.now() < endAt) {
        const productId = productIds[next++ % productIds.length];
        const outcome = await placeAndAwait(api, token, productId);
        counts.placed++;
        if (outcome.status === "CONFIRMED") {
          counts.confirmed++;
          latencies.push(outcome.ms);
        } else if (outcome.status === "CANCELLED") counts.cancelled++;
        else counts.failed++;
      }
    }),
  );
  const elapsedSec = (Date.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    ...counts,
    confirmedPerSec: Number((counts.confirmed / elapsedSec).toFixed(1)),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
  };
}

async function placeAndAwait(
  api: string,
  token: string,
  productId: string,
): Promise<{ status: string; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${api}/orders`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      "idempotency-key": randomUUID(),
    },
    body: JSON.stringify({
      lines: [{ productId, quantity: 1 }],
      shippingAddress: ADDRESS,
      paymentMethod: { type: "card", token: "tok_visa" },
    }),
  });
  if (res.status !== 201 && res.status !== 202) {
    await res.body?.cancel();
    return { status: `HTTP ${res.status}`, ms: performance.now() - t0 };
  }
  const placed = (await res.json()) as { id: string; status: string };
  const id = placed.id;
  let status = placed.status;
  const deadline = Date.now() + ORDER_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (status === "CONFIRMED" || status === "CANCELLED") {
      return { status, ms: performance.now() - t0 };
    }
    const order = await fetch(`${api}/orders/${id}?whileStatus=${IN_PROGRESS}&wait=${WAIT_SEC}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    ({ status } = (await order.json()) as { status: string });
  }
  return { status: "TIMEOUT", ms: performance.now() - t0 };
}

async function inStockProducts(api: string): Promise<string[]> {
  const res = await fetch(`${api}/products?pageSize=100&inStock=true`);
  if (!res.ok) throw new Error(`GET /products answered ${res.status}`);
  const page = (await res.json()) as ProductPage;
  return page.items.map((p) => p.id);
}

async function registerShopper(api: string): Promise<string> {
  const email = `bench_${randomUUID()}@example.com`;
  const password = "bench-Password-2026!";
  const registered = await postJson(api, "/auth/register", {
    email,
    password,
    name: "Bench Shopper",
  });
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}`);
  return logIn(api, email, password);
}

/** An access token for the account (`api`: the node's `/api/v1` URL). */
export async function logIn(api: string, email: string, password: string): Promise<string> {
  const login = await postJson(api, "/auth/login", { email, password });
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  return ((await login.json()) as { accessToken: string }).accessToken;
}

function postJson(api: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${api}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]);
}
