/**
 * The load scenarios. Each prepares its request list against the target
 * (e.g. reads real slugs) and autocannon cycles through it.
 */
export interface Scenario {
  name: string;
  /** What the scenario hits, for the report. */
  target: string;
  requests: {
    method: "GET" | "POST";
    path: string;
    headers?: Record<string, string>;
    body?: string;
  }[];
  prepare(baseUrl: string): Promise<Scenario["requests"]>;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return (await res.json()) as T;
}

async function postJson<T>(
  url: string,
  body = "{}",
  headers: Record<string, string> = {},
): Promise<T> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  if (!res.ok) throw new Error(`POST ${url} answered ${res.status}`);
  return (await res.json()) as T;
}

/**
 * add-to-cart: guest carts, and distinct products added to each (a
 * storefront cart of a few lines); view-cart reads VIEW_CART_COUNT carts of 5.
 */
const CART_COUNT = 1000;
const LINES_PER_CART = 5;
const VIEW_CART_COUNT = 200;

async function newGuestCarts(baseUrl: string, count: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < count; i++)
    tokens.push((await postJson<{ token: string }>(`${baseUrl}/api/v1/cart`)).token);
  return tokens;
}

/** Ids of the first `pages` × 100 active products of the public list. */
async function activeProductIds(baseUrl: string, pages: number): Promise<string[]> {
  const ids: string[] = [];
  for (let page = 1; page <= pages; page++) {
    const list = await getJson<ProductPage>(`${baseUrl}/api/v1/products?page=${page}&pageSize=100`);
    ids.push(...list.items.map((p) => p.id));
  }
  return ids;
}

function addItemRequest(token: string, productId: string, quantity: number) {
  return {
    method: "POST" as const,
    path: "/api/v1/cart/items",
    headers: { "content-type": "application/json", "x-cart-token": token },
    body: JSON.stringify({ productId, quantity }),
  };
}

interface ProductPage {
  items: { id: string; slug: string; name: string; brand: string }[];
}

const SEARCH_TERMS = [
  "headphones",
  "wireless",
  "laptop",
  "coffee",
  "running",
  "blender",
  "jacket",
  "camera",
  "hedphones",
  "speaker",
];

export const scenarios: Scenario[] = [
  {
    name: "baseline",
    target: "GET /api/v1/health (gateway + one action, no I/O)",
    requests: [],
    async prepare() {
      return [{ method: "GET", path: "/api/v1/health" }];
    },
  },
  {
    name: "product-list",
    target: "GET /api/v1/products, 10 pages × 2 sorts (cache warm)",
    requests: [],
    async prepare() {
      const out: Scenario["requests"] = [];
      for (let page = 1; page <= 10; page++)
        for (const sort of ["newest", "price"])
          out.push({
            method: "GET",
            path: `/api/v1/products?page=${page}&pageSize=20&sort=${sort}`,
          });
      return out;
    },
  },
  {
    name: "product-page",
    target: "GET /api/v1/products/:slug over 200 products (cache warm)",
    requests: [],
    async prepare(baseUrl) {
      const out: Scenario["requests"] = [];
      for (let page = 1; page <= 2; page++) {
        const list = await getJson<ProductPage>(
          `${baseUrl}/api/v1/products?page=${page}&pageSize=100`,
        );
        for (const p of list.items) out.push({ method: "GET", path: `/api/v1/products/${p.slug}` });
      }
      return out;
    },
  },
  {
    name: "search",
    target: "GET /api/v1/search?q= over 10 terms (one misspelt) and facets",
    requests: [],
    async prepare() {
      return SEARCH_TERMS.map((q) => ({
        method: "GET" as const,
        path: `/api/v1/search?q=${encodeURIComponent(q)}&pageSize=20`,
      }));
    },
  },
  {
    name: "add-to-cart",
    target: `POST /api/v1/cart/items: ${CART_COUNT} guest carts × ${LINES_PER_CART} products, one unit each`,
    requests: [],
    async prepare(baseUrl) {
      const [carts, products] = await Promise.all([
        newGuestCarts(baseUrl, CART_COUNT),
        activeProductIds(baseUrl, 2),
      ]);
      // Each cart gets its own run of products, one unit per request: a line
      // grows by one per pass over the list, far below the per-line limit
      // within a run, and a cart never holds more than LINES_PER_CART lines.
      const out: Scenario["requests"] = [];
      for (let i = 0; i < LINES_PER_CART; i++)
        carts.forEach((token, c) =>
          out.push(addItemRequest(token, products[(c * 7 + i) % products.length], 1)),
        );
      return out;
    },
  },
  {
    name: "view-cart",
    target: `GET /api/v1/cart over ${VIEW_CART_COUNT} guest carts of 5 lines (priced from catalog and inventory)`,
    requests: [],
    async prepare(baseUrl) {
      const [carts, products] = await Promise.all([
        newGuestCarts(baseUrl, VIEW_CART_COUNT),
        activeProductIds(baseUrl, 1),
      ]);
      for (const [c, token] of carts.entries())
        for (let i = 0; i < 5; i++) {
          const add = addItemRequest(token, products[(c + i * 11) % products.length], 1);
          await postJson(`${baseUrl}${add.path}`, add.body!, add.headers);
        }
      return carts.map((token) => ({
        method: "GET" as const,
        path: "/api/v1/cart",
        headers: { "x-cart-token": token },
      }));
    },
  },
];
