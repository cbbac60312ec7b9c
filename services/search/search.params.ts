import { AppError } from "../../lib/errors";
import { DEFAULT_PAGE_SIZE } from "../../lib/pagination";
import { MAX_PAGE, MAX_PAGE_SIZE, SearchQuery, SORT_ORDERS, SortOrder } from "./index-port";

/**
 * Request schemas (fastest-validator). GET query values arrive as strings,
 * hence `convert: true`; `$$strict` turns unknown parameters into a 400.
 * Lists take repeated parameters (`brand=Sony&brand=Bose`) or commas
 * (`brand=Sony,Bose`); attribute filters use brackets (`attr[color]=red`).
 */
const text = (max: number) => ({ type: "string", trim: true, max, optional: true });
const amount = { type: "number", integer: true, min: 0, convert: true, optional: true };
const listOf = (max: number) => [
  { type: "string", trim: true, max, optional: true },
  { type: "array", items: { type: "string", trim: true, max }, max: 50, optional: true },
];

export const searchParams = {
  $$strict: true,
  q: text(200),
  category: text(100),
  brand: listOf(100),
  minPrice: amount,
  maxPrice: amount,
  inStock: { type: "boolean", convert: true, optional: true },
  attr: {
    type: "record",
    key: { type: "string", pattern: /^[A-Za-z0-9_.-]{1,50}$/ },
    value: listOf(100),
    optional: true,
  },
  sort: { type: "enum", values: [...SORT_ORDERS], optional: true },
  page: { type: "number", integer: true, min: 1, max: MAX_PAGE, convert: true, optional: true },
  pageSize: {
    type: "number",
    integer: true,
    min: 1,
    max: MAX_PAGE_SIZE,
    convert: true,
    optional: true,
  },
};

export interface SearchParams {
  q?: string;
  category?: string;
  brand?: string | string[];
  minPrice?: number;
  maxPrice?: number;
  inStock?: boolean;
  attr?: Record<string, string | string[]>;
  sort?: SortOrder;
  page?: number;
  pageSize?: number;
}

/** The port's query from checked parameters; contradicting bounds are a 400. */
export function toSearchQuery(params: SearchParams): SearchQuery {
  const { minPrice, maxPrice } = params;
  if (minPrice !== undefined && maxPrice !== undefined && minPrice > maxPrice)
    throw AppError.validation("minPrice must not be above maxPrice", [
      { field: "maxPrice", message: "maxPrice must be at least minPrice" },
    ]);
  const query: SearchQuery = {
    page: params.page ?? 1,
    pageSize: params.pageSize ?? DEFAULT_PAGE_SIZE,
  };
  if (params.q) query.q = params.q;
  if (params.category) query.category = params.category;
  const brands = listValues(params.brand);
  if (brands.length) query.brand = brands;
  if (minPrice !== undefined) query.minPrice = minPrice;
  if (maxPrice !== undefined) query.maxPrice = maxPrice;
  if (params.inStock !== undefined) query.inStock = params.inStock;
  if (params.attr) {
    const attributes = Object.fromEntries(
      Object.entries(params.attr)
        .map(([key, value]) => [key, listValues(value)] as const)
        .filter(([, values]) => values.length),
    );
    if (Object.keys(attributes).length) query.attributes = attributes;
  }
  if (params.sort) query.sort = params.sort;
  return query;
}

function listValues(value: string | string[] | undefined): string[] {
  const all = (Array.isArray(value) ? value : value === undefined ? [] : [value]).flatMap((v) =>
    v.split(","),
  );
  return [...new Set(all.map((v) => v.trim()).filter(Boolean))];
}

export const suggestParams = {
  $$strict: true,
  q: { type: "string", trim: true, min: 1, max: 100 },
  limit: { type: "number", integer: true, min: 1, max: 20, convert: true, optional: true },
};

export interface SuggestParams {
  q: string;
  limit?: number;
}

export const DEFAULT_SUGGESTIONS = 8;

/** Largest page a rebuild reads from `catalog.export` (its own maximum). */
export const MAX_REBUILD_PAGE_SIZE = 1000;

export const rebuildParams = {
  $$strict: true,
  clear: { type: "boolean", convert: true, optional: true },
  pageSize: {
    type: "number",
    integer: true,
    min: 1,
    max: MAX_REBUILD_PAGE_SIZE,
    convert: true,
    optional: true,
  },
};

export interface RebuildParams {
  /** Empty the index first (drops products the catalog no longer has; search is partial meanwhile). */
  clear?: boolean;
  /** Products read per page (default the largest): smaller pages are gentler on the catalog. */
  pageSize?: number;
}
