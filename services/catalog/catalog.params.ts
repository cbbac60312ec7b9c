import type { ProductStatus } from "../../lib/contracts/catalog";
import { pageParams } from "../../lib/pagination";
import {
  ATTRIBUTE_KEY_PATTERN,
  ATTRIBUTE_VALUE_MAX_LENGTH,
  BRAND_MAX_LENGTH,
  CURRENCY_PATTERN,
  DESCRIPTION_MAX_LENGTH,
  MAX_IMAGES,
  MAX_PRICE_AMOUNT,
  NAME_MAX_LENGTH,
  NewProductInput,
  PRODUCT_STATUSES,
  ProductChanges,
  SKU_MAX_LENGTH,
  SKU_PATTERN,
} from "./domain/product";
import { PRODUCT_SORTS, ProductFilters } from "./domain/product-query";
import { SLUG_MAX_LENGTH, SLUG_PATTERN } from "./domain/slug";

/**
 * Request schemas (fastest-validator). `$$strict: true` (and `strict` on
 * nested objects) turns any field not listed into a 400 naming it, which is
 * what keeps `id`, `version` or timestamps out of a PATCH. The bounds come
 * from domain/product.ts, which checks the same rules for every way in.
 */
const uuid = { type: "uuid" };
const text = (max: number) => ({ type: "string", trim: true, min: 1, max });
const optional = <T extends object>(rule: T) => ({ ...rule, optional: true });

const sku = {
  type: "string",
  trim: true,
  max: SKU_MAX_LENGTH,
  pattern: SKU_PATTERN,
  messages: { stringPattern: "sku is 1–64 letters, digits, '.', '_' or '-'" },
};
const slug = {
  type: "string",
  max: SLUG_MAX_LENGTH,
  pattern: SLUG_PATTERN,
  messages: { stringPattern: "slug is lower-case letters and digits in words joined by '-'" },
};
const price = {
  type: "object",
  strict: true,
  props: {
    amount: { type: "number", integer: true, min: 0, max: MAX_PRICE_AMOUNT },
    currency: {
      type: "string",
      pattern: CURRENCY_PATTERN,
      messages: { stringPattern: "currency is an ISO 4217 code: three upper-case letters" },
    },
  },
};
const attributes = {
  type: "record",
  key: {
    type: "string",
    pattern: ATTRIBUTE_KEY_PATTERN,
    messages: { stringPattern: "attribute names are lower-case letters, digits and '_'" },
  },
  value: { type: "string", trim: true, min: 1, max: ATTRIBUTE_VALUE_MAX_LENGTH },
};
const images = { type: "array", max: MAX_IMAGES, items: { type: "url" } };
const status = { type: "enum", values: [...PRODUCT_STATUSES] };

const productFields = {
  sku,
  name: text(NAME_MAX_LENGTH),
  slug: optional(slug),
  description: optional({ type: "string", trim: true, max: DESCRIPTION_MAX_LENGTH }),
  brand: text(BRAND_MAX_LENGTH),
  categoryId: uuid,
  price,
  attributes: optional(attributes),
  images: optional(images),
  status: optional(status),
};

// ---- products

export const createProductParams = { $$strict: true, ...productFields };
export type CreateProductParams = NewProductInput;

export const updateProductParams = {
  $$strict: true,
  id: uuid,
  ...Object.fromEntries(Object.entries(productFields).map(([k, rule]) => [k, optional(rule)])),
};
export type UpdateProductParams = { id: string } & ProductChanges;

export const productIdParams = { $$strict: true, id: uuid };
export interface ProductIdParams {
  id: string;
}

export const idOrSlugParams = { $$strict: true, idOrSlug: { type: "string", min: 1, max: 120 } };
export interface IdOrSlugParams {
  idOrSlug: string;
}

const minorUnits = { type: "number", integer: true, min: 0, convert: true, optional: true };
export const listProductsParams = {
  $$strict: true,
  category: optional({ type: "string", trim: true, min: 1, max: 120 }),
  brand: optional({ type: "string", trim: true, min: 1, max: 2000 }),
  minPrice: minorUnits,
  maxPrice: minorUnits,
  inStock: { type: "boolean", convert: true, optional: true },
  sort: { type: "enum", values: [...PRODUCT_SORTS], optional: true },
  ...pageParams,
};
/** The list route's query: exactly the filters the domain understands. */
export type ListProductsParams = ProductFilters;

// ---- categories

const parentId = { type: "uuid", optional: true, nullable: true };
const position = { type: "number", integer: true, min: 0, max: 1_000_000, optional: true };

export const createCategoryParams = {
  $$strict: true,
  name: text(100),
  slug: optional(slug),
  parentId,
  position,
};
export interface CreateCategoryParams {
  name: string;
  slug?: string;
  parentId?: string | null;
  position?: number;
}

export const updateCategoryParams = {
  $$strict: true,
  id: uuid,
  name: optional(text(100)),
  slug: optional(slug),
  parentId,
  position,
};
export type UpdateCategoryParams = { id: string } & Partial<CreateCategoryParams>;

// ---- internal actions

export const getParams = { $$strict: true, id: uuid };
export interface GetParams {
  id: string;
}

export const getManyParams = { $$strict: true, ids: { type: "array", max: 500, items: uuid } };
export interface GetManyParams {
  ids: string[];
}

export const exportParams = {
  $$strict: true,
  cursor: optional({ type: "string", min: 1, max: 200 }),
  limit: { type: "number", integer: true, min: 1, max: 1000, optional: true, convert: true },
  status: optional(status),
};
export interface ExportParams {
  cursor?: string;
  limit?: number;
  status?: ProductStatus;
}

export const IMPORT_BATCH_MAX = 500;
export const importProductsParams = {
  $$strict: true,
  products: {
    type: "array",
    min: 1,
    max: IMPORT_BATCH_MAX,
    items: { type: "object", strict: true, props: productFields },
  },
};
export interface ImportProductsParams {
  products: NewProductInput[];
}
