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
];
