import type { Money, ProductSnapshot, ProductStatus } from "../../../lib/contracts/catalog";
import { AppError, ErrorDetail } from "../../../lib/errors";
import type { CategoryTree } from "./category-tree";
import { isValidSlug, SLUG_MAX_LENGTH } from "./slug";

/**
 * Product rules: what a product may hold, how input is normalised, what
 * other services and the storefront see of it. fastest-validator schemas
 * (catalog.params.ts) check types at the edge with these same bounds; the
 * rules here apply to every way in (REST, importProducts) and cover what a
 * schema cannot say (how many attributes, which URL schemes).
 */
export const PRODUCT_STATUSES: readonly ProductStatus[] = ["draft", "active", "archived"];
export const SKU_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const SKU_MAX_LENGTH = 64;
export const NAME_MAX_LENGTH = 200;
export const DESCRIPTION_MAX_LENGTH = 5000;
export const BRAND_MAX_LENGTH = 100;
export const CURRENCY_PATTERN = /^[A-Z]{3}$/;
/** 10^12 minor units: far above any real price, far below Number.MAX_SAFE_INTEGER. */
export const MAX_PRICE_AMOUNT = 1_000_000_000_000;
export const MAX_ATTRIBUTES = 30;
export const ATTRIBUTE_KEY_PATTERN = /^[a-z][a-z0-9_]{0,39}$/;
export const ATTRIBUTE_VALUE_MAX_LENGTH = 200;
export const MAX_IMAGES = 10;
export const IMAGE_URL_MAX_LENGTH = 500;

/** A product as the catalog stores it: the published fields, plus local stock and Date timestamps. */
export interface ProductRecord extends Omit<
  ProductSnapshot,
  "categoryPath" | "categoryName" | "createdAt" | "updatedAt"
> {
  /** Local copy of inventory's level (StockChanged), and the stock version it came with. */
  available: number;
  stockVersion: number;
  createdAt: Date;
  updatedAt: Date;
}

/** What an admin (or the seed) gives to create a product. */
export interface NewProductInput {
  sku: string;
  name: string;
  slug?: string;
  description?: string;
  brand: string;
  categoryId: string;
  price: Money;
  attributes?: Record<string, string>;
  images?: string[];
  status?: ProductStatus;
}

/** The editable fields, all normalised and complete (slug may still be missing: it is generated). */
export interface ProductFields {
  sku: string;
  name: string;
  slug?: string;
  description: string;
  brand: string;
  categoryId: string;
  price: Money;
  attributes: Record<string, string>;
  images: string[];
  status: ProductStatus;
}

/** A PATCH: any editable field. */
export type ProductChanges = Partial<NewProductInput>;

export interface Availability {
  available: number;
  inStock: boolean;
}

/** What the storefront gets: the snapshot plus the stock the catalog last heard of. */
export interface ProductView extends ProductSnapshot {
  availability: Availability;
}

/**
 * Checks and normalises a new product. `field` prefixes the names in error
 * details (importProducts reports `products[3].price.amount`).
 */
export function normalizeNewProduct(input: NewProductInput, field = ""): ProductFields {
  const errors: ErrorDetail[] = [];
  const out: ProductFields = {
    sku: normalizeSku(input.sku),
    name: input.name.trim(),
    description: (input.description ?? "").trim(),
    brand: input.brand.trim(),
    categoryId: input.categoryId.toLowerCase(),
    price: { amount: input.price.amount, currency: input.price.currency },
    attributes: normalizeAttributes(input.attributes ?? {}),
    images: [...(input.images ?? [])],
    status: input.status ?? "draft",
  };
  if (input.slug !== undefined) out.slug = input.slug;
  collectProblems(out, field, errors);
  if (errors.length) throw AppError.validation("Invalid product", errors);
  return out;
}

/** Checks and normalises a PATCH; only the fields present are returned. */
export function normalizeChanges(changes: ProductChanges): Partial<ProductFields> {
  const out: Partial<ProductFields> = {};
  if (changes.sku !== undefined) out.sku = normalizeSku(changes.sku);
  if (changes.name !== undefined) out.name = changes.name.trim();
  if (changes.slug !== undefined) out.slug = changes.slug;
  if (changes.description !== undefined) out.description = changes.description.trim();
  if (changes.brand !== undefined) out.brand = changes.brand.trim();
  if (changes.categoryId !== undefined) out.categoryId = changes.categoryId.toLowerCase();
  if (changes.price !== undefined)
    out.price = { amount: changes.price.amount, currency: changes.price.currency };
  if (changes.attributes !== undefined) out.attributes = normalizeAttributes(changes.attributes);
  if (changes.images !== undefined) out.images = [...changes.images];
  if (changes.status !== undefined) out.status = changes.status;
  const errors: ErrorDetail[] = [];
  collectProblems(out, "", errors);
  if (errors.length) throw AppError.validation("Invalid product", errors);
  return out;
}

/** SKUs compare case-insensitively everywhere (SQLite and MySQL alike): stored upper-case. */
export function normalizeSku(sku: string): string {
  return sku.trim().toUpperCase();
}

/** Brand filters compare case-insensitively: the list query matches this key. */
export function brandKey(brand: string): string {
  return brand.trim().toLowerCase();
}

function normalizeAttributes(attributes: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(attributes).sort()) out[key] = String(attributes[key]).trim();
  return out;
}

function collectProblems(p: Partial<ProductFields>, field: string, errors: ErrorDetail[]): void {
  const bad = (name: string, message: string) => errors.push({ field: field + name, message });
  if (p.sku !== undefined && !SKU_PATTERN.test(p.sku))
    bad("sku", "1–64 letters, digits, '.', '_' or '-', starting with a letter or digit");
  if (p.name !== undefined && (p.name.length < 1 || p.name.length > NAME_MAX_LENGTH))
    bad("name", `1–${NAME_MAX_LENGTH} characters`);
  if (p.slug !== undefined && !isValidSlug(p.slug))
    bad("slug", `lower-case letters and digits in words joined by '-', at most ${SLUG_MAX_LENGTH}`);
  if (p.description !== undefined && p.description.length > DESCRIPTION_MAX_LENGTH)
    bad("description", `at most ${DESCRIPTION_MAX_LENGTH} characters`);
  if (p.brand !== undefined && (p.brand.length < 1 || p.brand.length > BRAND_MAX_LENGTH))
    bad("brand", `1–${BRAND_MAX_LENGTH} characters`);
  if (p.price !== undefined) {
    const { amount, currency } = p.price;
    if (!Number.isInteger(amount) || amount < 0 || amount > MAX_PRICE_AMOUNT)
      bad("price.amount", "a whole number of minor units (cents), 0 or more");
    if (typeof currency !== "string" || !CURRENCY_PATTERN.test(currency))
      bad("price.currency", "an ISO 4217 code: three upper-case letters");
  }
  if (p.attributes !== undefined) {
    const entries = Object.entries(p.attributes);
    if (entries.length > MAX_ATTRIBUTES) bad("attributes", `at most ${MAX_ATTRIBUTES} attributes`);
    for (const [key, value] of entries) {
      if (!ATTRIBUTE_KEY_PATTERN.test(key))
        bad(`attributes.${key}`, "names are lower-case letters, digits and '_' (at most 40)");
      else if (value.length < 1 || value.length > ATTRIBUTE_VALUE_MAX_LENGTH)
        bad(`attributes.${key}`, `values are 1–${ATTRIBUTE_VALUE_MAX_LENGTH} characters`);
    }
  }
  if (p.images !== undefined) {
    if (p.images.length > MAX_IMAGES) bad("images", `at most ${MAX_IMAGES} images`);
    p.images.forEach((url, i) => {
      if (!isWebUrl(url)) bad(`images[${i}]`, "an http(s) URL");
    });
  }
  if (p.status !== undefined && !PRODUCT_STATUSES.includes(p.status))
    bad("status", `one of ${PRODUCT_STATUSES.join(", ")}`);
}

function isWebUrl(value: string): boolean {
  if (typeof value !== "string" || value.length > IMAGE_URL_MAX_LENGTH) return false;
  try {
    const url = new URL(value);
    return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
  } catch {
    return false;
  }
}

/**
 * The fields of `changes` that differ from the product; empty when the PATCH
 * changes nothing (then the version stays and no event is sent).
 */
export function changedFields(
  product: ProductRecord,
  changes: Partial<ProductFields>,
): Partial<ProductFields> {
  const out: Partial<ProductFields> = {};
  for (const key of Object.keys(changes) as (keyof ProductFields)[]) {
    const next = changes[key];
    if (next === undefined) continue;
    if (!sameValue(product[key], next)) Object.assign(out, { [key]: next });
  }
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The product as published on product.events and returned by the internal actions. */
export function toSnapshot(product: ProductRecord, tree: CategoryTree): ProductSnapshot {
  return {
    id: product.id,
    sku: product.sku,
    slug: product.slug,
    name: product.name,
    description: product.description,
    brand: product.brand,
    categoryId: product.categoryId,
    categoryPath: tree.pathIds(product.categoryId),
    categoryName: tree.get(product.categoryId)?.name ?? "",
    price: { amount: product.price.amount, currency: product.price.currency },
    attributes: { ...product.attributes },
    images: [...product.images],
    status: product.status,
    createdAt: product.createdAt.toISOString(),
    updatedAt: product.updatedAt.toISOString(),
    version: product.version,
  };
}

export function toProductView(product: ProductRecord, tree: CategoryTree): ProductView {
  return {
    ...toSnapshot(product, tree),
    availability: { available: product.available, inStock: product.available > 0 },
  };
}
