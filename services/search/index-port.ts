import type { Money, ProductSnapshot, StockLevel } from "../../lib/contracts/catalog";

/**
 * The search index port (ARCHITECTURE §2): one contract, two adapters —
 * MiniSearch in process (minisearch-index.ts) and Elasticsearch
 * (elasticsearch-index.ts) — checked by one contract suite
 * (test/contract/search-index.contract.test.ts).
 *
 * Versions make indexing idempotent and order-proof: every product write
 * carries the product's `version` (ProductSnapshot.version) and every stock
 * write the stock row's own `version` (StockLevel.version). An index keeps the
 * highest version of each it has seen, per product, and ignores anything not
 * newer — so redelivered, reordered or stale messages (a rebuild's snapshot
 * racing live events) can never overwrite newer data. A removal leaves a
 * tombstone holding its version, so an older upsert arriving later stays
 * ignored. A stock level for a product not indexed yet is kept and applied
 * when the product arrives.
 */

/** The searchable view of an active product (stock is kept beside it, see StockState). */
export interface SearchDocument extends Pick<
  ProductSnapshot,
  | "id"
  | "slug"
  | "name"
  | "description"
  | "brand"
  | "categoryId"
  | "categoryPath"
  | "categoryName"
  | "price"
  | "attributes"
  | "createdAt"
> {
  status: "active";
  /** ProductSnapshot.version of the data above. */
  productVersion: number;
}

/** A removal (archived, back to draft): a tombstone at this product version. */
export interface ProductRemoval {
  id: string;
  productVersion: number;
}

/** What a write did: `ignored` counts items older than (or as old as) what the index holds. */
export interface WriteOutcome {
  applied: number;
  ignored: number;
}

export const SORT_ORDERS = ["relevance", "price", "-price", "name", "newest"] as const;
export type SortOrder = (typeof SORT_ORDERS)[number];

export interface SearchQuery {
  /** Free text; typo-tolerant and prefix-matching. Absent: every product matching the filters. */
  q?: string;
  /** A category id: matches products in it or in any of its descendants (via categoryPath). */
  category?: string;
  /** Any of these brands (exact names, as the brand facet gives them). */
  brand?: string[];
  /** Inclusive bounds, in minor units of the price's currency. */
  minPrice?: number;
  maxPrice?: number;
  /** true: available > 0 only; false: sold out only. */
  inStock?: boolean;
  /** Attribute filter: every key must match one of its values (`{ color: ["red", "blue"] }`). */
  attributes?: Record<string, string[]>;
  /** Default: relevance with q, newest without. */
  sort?: SortOrder;
  page: number;
  /** At most MAX_PAGE_SIZE. */
  pageSize: number;
}

export interface SearchHit {
  id: string;
  slug: string;
  name: string;
  brand: string;
  price: Money;
  available: number;
  inStock: boolean;
  /**
   * With q: the name (whole) and a description fragment with the matched
   * terms in `<em>…</em>`; the text is HTML-escaped first. A field is absent
   * when no term matched in it.
   */
  highlight: { name?: string; description?: string };
}

export interface PriceBucket {
  from: number;
  /** Exclusive; null for the last, open-ended bucket. */
  to: number | null;
  count: number;
}

/**
 * Facet counts over the whole filtered result set (every filter applied,
 * including the facet's own: selecting a brand leaves one brand in the brand
 * facet). Terms are ordered by count, then value. Price buckets are fixed
 * (PRICE_BUCKETS) and always all present.
 */
export interface Facets {
  category: { value: string; label: string; count: number }[];
  brand: { value: string; count: number }[];
  price: PriceBucket[];
  attributes: Record<string, { value: string; count: number }[]>;
}

export interface SearchResult {
  items: SearchHit[];
  total: number;
  page: number;
  pageSize: number;
  facets: Facets;
}

export interface Suggestion {
  /** The product name to complete to. */
  text: string;
  productId?: string;
  slug?: string;
}

export interface SearchIndex {
  /** "minisearch" or "elasticsearch", for logs and search.status. */
  readonly adapter: string;
  /** Prepares the index (Elasticsearch: creates it with its mappings when missing). Idempotent. */
  open(): Promise<void>;
  /** Adds or replaces products; an item not newer than the held product version is ignored. */
  upsert(docs: readonly SearchDocument[]): Promise<WriteOutcome>;
  /** Removes products, leaving tombstones at their versions. */
  remove(removals: readonly ProductRemoval[]): Promise<WriteOutcome>;
  /** Applies stock levels (by StockLevel.version), also to products not indexed yet. */
  applyStock(levels: readonly StockLevel[]): Promise<WriteOutcome>;
  query(query: SearchQuery): Promise<SearchResult>;
  /** Product names completing `prefix` (typo-tolerant), best first, distinct names. */
  suggest(prefix: string, limit: number): Promise<Suggestion[]>;
  /** Forgets everything: documents, tombstones and remembered stock. */
  clear(): Promise<void>;
  /** Number of searchable (active) products. */
  count(): Promise<number>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export const MAX_PAGE_SIZE = 100;
/** page × pageSize stays within Elasticsearch's default max_result_window (10 000). */
export const MAX_PAGE = 100;

/** Price facet buckets in minor units: [from, to), the last one open-ended. */
export const PRICE_BUCKETS: readonly { from: number; to: number | null }[] = [
  { from: 0, to: 2500 },
  { from: 2500, to: 5000 },
  { from: 5000, to: 10000 },
  { from: 10000, to: 25000 },
  { from: 25000, to: 50000 },
  { from: 50000, to: null },
];

/** How many terms each facet returns (the attribute facet: key=value pairs over all keys). */
export const FACET_SIZES = { category: 50, brand: 50, attributePairs: 200 } as const;

/** The search document of a snapshot, or undefined when the product is not searchable. */
export function toSearchDocument(p: ProductSnapshot): SearchDocument | undefined {
  if (p.status !== "active") return undefined;
  return {
    id: p.id,
    slug: p.slug,
    name: p.name,
    description: p.description ?? "",
    brand: p.brand ?? "",
    categoryId: p.categoryId,
    categoryPath: p.categoryPath?.length ? [...p.categoryPath] : [p.categoryId],
    categoryName: p.categoryName ?? "",
    price: { amount: p.price.amount, currency: p.price.currency },
    attributes: { ...(p.attributes ?? {}) },
    status: "active",
    createdAt: p.createdAt,
    productVersion: p.version,
  };
}
