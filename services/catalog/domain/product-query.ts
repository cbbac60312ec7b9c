import { Op, WhereOptions } from "sequelize";
import { AppError } from "../../../lib/errors";
import { pageWindow } from "../../../lib/pagination";
import type { CategoryTree } from "./category-tree";
import { brandKey } from "./product";

/**
 * The public product list (`GET /products`) as a query: filters become a
 * `where` on indexed columns (status, category_id, brand_key, price_amount,
 * available), the sort an `order` with the id as tie-breaker so pages never
 * overlap (in the sort's direction, so an index on (status, column) — which
 * ends with the primary key — serves it forwards or backwards). The category
 * filter is resolved here, in memory, to the ids of the category and all its
 * descendants (`category_id IN (…)`).
 */
export const PRODUCT_SORTS = ["price", "-price", "name", "-name", "newest"] as const;
export type ProductSort = (typeof PRODUCT_SORTS)[number];
export const MAX_BRANDS_PER_FILTER = 20;

export interface ProductFilters {
  /** Category id or slug; matches its sub-categories too. */
  category?: string;
  /** One brand or a comma-separated list, compared case-insensitively. */
  brand?: string;
  /** Minor units, inclusive. */
  minPrice?: number;
  maxPrice?: number;
  inStock?: boolean;
  sort?: ProductSort;
  page?: number;
  pageSize?: number;
}

export type SortOrder = [column: string, direction: "ASC" | "DESC"][];

export interface ProductQuery {
  where: WhereOptions;
  order: SortOrder;
  page: number;
  pageSize: number;
  offset: number;
  /** True when the filters cannot match anything (an unknown category): no query needed. */
  matchesNothing: boolean;
}

const ORDERS: Record<ProductSort, SortOrder> = {
  newest: [
    ["createdAt", "DESC"],
    ["id", "DESC"],
  ],
  price: [
    ["priceAmount", "ASC"],
    ["id", "ASC"],
  ],
  "-price": [
    ["priceAmount", "DESC"],
    ["id", "DESC"],
  ],
  name: [
    ["name", "ASC"],
    ["id", "ASC"],
  ],
  "-name": [
    ["name", "DESC"],
    ["id", "DESC"],
  ],
};

export function buildProductQuery(filters: ProductFilters, tree: CategoryTree): ProductQuery {
  const { page, pageSize, offset } = pageWindow(filters);
  const where: Record<string | symbol, unknown> = { status: "active" };
  let matchesNothing = false;

  if (filters.category !== undefined) {
    const category = tree.resolve(filters.category.trim());
    if (category) where.categoryId = { [Op.in]: tree.subtreeIds(category.id) };
    else matchesNothing = true;
  }

  if (filters.brand !== undefined) {
    const brands = parseBrandList(filters.brand);
    if (brands.length) where.brandKey = brands.length === 1 ? brands[0] : { [Op.in]: brands };
  }

  const { minPrice, maxPrice } = filters;
  if (minPrice !== undefined && maxPrice !== undefined && minPrice > maxPrice)
    throw AppError.validation("minPrice is above maxPrice", [
      { field: "minPrice", message: "must not be above maxPrice" },
    ]);
  if (minPrice !== undefined || maxPrice !== undefined) {
    const range: Record<symbol, number> = {};
    if (minPrice !== undefined) range[Op.gte] = minPrice;
    if (maxPrice !== undefined) range[Op.lte] = maxPrice;
    where.priceAmount = range;
  }

  if (filters.inStock !== undefined)
    where.available = filters.inStock ? { [Op.gt]: 0 } : { [Op.lte]: 0 };

  return {
    where: where as WhereOptions,
    order: ORDERS[filters.sort ?? "newest"],
    page,
    pageSize,
    offset,
    matchesNothing,
  };
}

/** "Sony, bose,,SONY" → ["sony", "bose"]. */
export function parseBrandList(raw: string): string[] {
  const brands = [...new Set(raw.split(",").map(brandKey).filter(Boolean))];
  if (brands.length > MAX_BRANDS_PER_FILTER)
    throw AppError.validation("Too many brands", [
      { field: "brand", message: `at most ${MAX_BRANDS_PER_FILTER} brands` },
    ]);
  return brands;
}
