import { randomUUID } from "node:crypto";
import type { Transaction } from "sequelize";
import type { ProductSnapshot, ProductStatus, StockLevel } from "../../lib/contracts/catalog";
import { AppError, ErrorDetail } from "../../lib/errors";
import type { PageOf } from "../../lib/pagination";
import { productArchived, productCreated, productUpdated } from "./catalog-events";
import { ProductKeys, productLookupKey } from "./cache-entries";
import { CategoryTree } from "./domain/category-tree";
import { isUuid } from "./domain/ids";
import {
  changedFields,
  NewProductInput,
  normalizeChanges,
  normalizeNewProduct,
  ProductChanges,
  ProductFields,
  ProductRecord,
  ProductView,
  toProductView,
  toSnapshot,
} from "./domain/product";
import { buildProductQuery, ProductFilters } from "./domain/product-query";
import { firstFreeSlug, isSuffixOf, isValidSlug, slugify } from "./domain/slug";
import { CatalogDependencies, UseCaseOrigin, withSlugRetry } from "./use-case-support";

/**
 * Products: admin create / update / archive, the bulk import the seed uses,
 * the public reads, the internal reads other services make, and the local
 * copy of stock levels. Every change commits with its outbox message and is
 * followed by `changed()` (cache invalidation) before the caller hears back.
 */
export interface ExportRequest {
  cursor?: string;
  limit?: number;
  status?: ProductStatus;
}

export interface ExportPage {
  items: ProductSnapshot[];
  nextCursor: string | null;
}

export const DEFAULT_EXPORT_LIMIT = 500;

export class ProductUseCases {
  private readonly now: () => Date;

  constructor(private readonly deps: CatalogDependencies) {
    this.now = deps.clock ?? (() => new Date());
  }

  async create(input: NewProductInput, origin?: UseCaseOrigin): Promise<ProductView> {
    const fields = normalizeNewProduct(input);
    const view = await withSlugRetry("product", fields.slug === undefined, () =>
      this.deps.database.transaction(async (tx) => {
        const tree = await this.tree(tx);
        assertCategoryExists(tree, fields.categoryId, "categoryId");
        const slugs = await this.allocateSlugs([fields], tx);
        const product = this.newRecord(fields, slugs[0]);
        await this.deps.repository.insertProducts([product], tx);
        await this.deps.outbox.enqueue(tx, productCreated(toSnapshot(product, tree)), origin);
        return toProductView(product, tree);
      }),
    );
    await this.deps.changed();
    return view;
  }

  /**
   * Creates up to a few hundred products in one transaction, with their
   * ProductCreated messages: all or none. The seed's way in.
   */
  async importProducts(inputs: NewProductInput[], origin?: UseCaseOrigin): Promise<number> {
    const batch = inputs.map((input, i) => normalizeNewProduct(input, `products[${i}].`));
    assertNoDuplicatesWithin(batch);
    const anyGenerated = batch.some((p) => p.slug === undefined);
    await withSlugRetry("product", anyGenerated, () =>
      this.deps.database.transaction(async (tx) => {
        const tree = await this.tree(tx);
        batch.forEach((p, i) =>
          assertCategoryExists(tree, p.categoryId, `products[${i}].categoryId`),
        );
        await this.assertNotTaken(batch, tx);
        const slugs = await this.allocateSlugs(batch, tx);
        const products = batch.map((fields, i) => this.newRecord(fields, slugs[i]));
        await this.deps.repository.insertProducts(products, tx);
        for (const product of products)
          await this.deps.outbox.enqueue(tx, productCreated(toSnapshot(product, tree)), origin);
      }),
    );
    await this.deps.changed();
    return batch.length;
  }

  async update(
    productId: string,
    changes: ProductChanges,
    origin?: UseCaseOrigin,
  ): Promise<ProductView> {
    const id = productId.toLowerCase();
    const normalized = normalizeChanges(changes);
    const { view, changed } = await withSlugRetry("product", false, () =>
      this.deps.database.transaction(async (tx) => {
        const product = await this.deps.repository.findProduct(id, tx, true);
        if (!product) throw AppError.notFound("Product");
        const tree = await this.tree(tx);
        if (normalized.categoryId !== undefined)
          assertCategoryExists(tree, normalized.categoryId, "categoryId");
        const diff = changedFields(product, normalized);
        if (!Object.keys(diff).length)
          return { view: toProductView(product, tree), changed: false };
        const next = this.nextVersion(product, diff);
        await this.deps.repository.updateProduct(id, { ...diff, ...versionOf(next) }, tx);
        const snapshot = toSnapshot(next, tree);
        const archived = diff.status === "archived";
        await this.deps.outbox.enqueue(
          tx,
          archived ? productArchived(snapshot) : productUpdated(snapshot),
          origin,
        );
        return { view: toProductView(next, tree), changed: true };
      }),
    );
    if (changed) await this.deps.changed();
    return view;
  }

  /** Archives (there is no hard delete: orders keep pointing at products). Idempotent. */
  async archive(productId: string, origin?: UseCaseOrigin): Promise<void> {
    const id = productId.toLowerCase();
    const changed = await this.deps.database.transaction(async (tx) => {
      const product = await this.deps.repository.findProduct(id, tx, true);
      if (!product) throw AppError.notFound("Product");
      if (product.status === "archived") return false;
      const next = this.nextVersion(product, { status: "archived" });
      await this.deps.repository.updateProduct(id, { status: "archived", ...versionOf(next) }, tx);
      const tree = await this.tree(tx);
      await this.deps.outbox.enqueue(tx, productArchived(toSnapshot(next, tree)), origin);
      return true;
    });
    if (changed) await this.deps.changed();
  }

  // ---- public reads: active products only

  async list(filters: ProductFilters): Promise<PageOf<ProductView>> {
    const tree = await this.tree();
    const query = buildProductQuery(filters, tree);
    const { page, pageSize } = query;
    if (query.matchesNothing) return { items: [], page, pageSize, total: 0 };
    const { rows, total } = await this.deps.repository.listProducts({
      where: query.where,
      order: query.order,
      offset: query.offset,
      limit: pageSize,
    });
    return { items: rows.map((p) => toProductView(p, tree)), page, pageSize, total };
  }

  /** An active product by id or slug; anything else is "not found". */
  async publicProduct(idOrSlug: string): Promise<ProductView> {
    const product = await this.findByIdOrSlug(idOrSlug);
    if (!product || product.status !== "active") throw AppError.notFound("Product");
    return toProductView(product, await this.tree());
  }

  // ---- internal reads: any status

  async snapshot(id: string): Promise<ProductSnapshot> {
    const product = await this.deps.repository.findProduct(id.toLowerCase());
    if (!product) throw AppError.notFound("Product");
    return toSnapshot(product, await this.tree());
  }

  /** In the order asked; unknown ids are left out. */
  async snapshots(ids: string[]): Promise<ProductSnapshot[]> {
    const wanted = [...new Set(ids.map((id) => id.toLowerCase()))];
    const products = await this.deps.repository.findProducts(wanted);
    if (!products.length) return [];
    const tree = await this.tree();
    const byId = new Map(products.map((p) => [p.id, p]));
    return wanted.flatMap((id) => {
      const product = byId.get(id);
      return product ? [toSnapshot(product, tree)] : [];
    });
  }

  /** Every product in id order, a page at a time (the search index is rebuilt from this). */
  async exportPage(request: ExportRequest): Promise<ExportPage> {
    const limit = request.limit ?? DEFAULT_EXPORT_LIMIT;
    const after = request.cursor === undefined ? undefined : decodeCursor(request.cursor);
    const rows = await this.deps.repository.productsAfter(after, limit + 1, request.status);
    const page = rows.slice(0, limit);
    const tree = await this.tree();
    return {
      items: page.map((p) => toSnapshot(p, tree)),
      nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1].id) : null,
    };
  }

  /** What these products' pages are cached under: their ids and slugs (unknown ids left out). */
  pageKeys(ids: string[]): Promise<ProductKeys[]> {
    return this.deps.repository.productSlugs(ids);
  }

  // ---- stock (StockChanged from inventory)

  /**
   * Keeps the level if it is newer than the one held (by the stock row's own
   * version): duplicates and late arrivals change nothing, so no inbox is
   * needed. Unknown products are ignored (inventory only knows products the
   * catalog created, so this is a level for a product removed by a reseed).
   */
  async applyStockLevel(level: StockLevel): Promise<boolean> {
    const available = Math.max(0, Math.trunc(level.available));
    // One conditional UPDATE is atomic on its own: no transaction needed.
    const changed = await this.deps.repository.applyStockLevel(
      level.productId,
      available,
      level.version,
    );
    if (changed) this.deps.availabilityChanged(level.productId);
    return changed;
  }

  // ---- steps

  private tree(tx?: Transaction): Promise<CategoryTree> {
    if (!tx && this.deps.readTree) return this.deps.readTree();
    return this.deps.repository.loadCategories(tx).then((records) => new CategoryTree(records));
  }

  private async findByIdOrSlug(idOrSlug: string): Promise<ProductRecord | null> {
    const key = productLookupKey(idOrSlug);
    if (isUuid(key)) {
      const byId = await this.deps.repository.findProduct(key);
      if (byId) return byId;
    }
    return isValidSlug(key) ? this.deps.repository.findProductBySlug(key) : null;
  }

  /**
   * A batch names the item whose sku or given slug is taken (the unique
   * indexes still decide when a concurrent writer takes one after this check).
   */
  private async assertNotTaken(batch: ProductFields[], tx: Transaction): Promise<void> {
    const taken = await this.deps.repository.takenSkusAndSlugs(
      batch.map((p) => p.sku),
      batch.flatMap((p) => (p.slug === undefined ? [] : [p.slug])),
      tx,
    );
    const details: ErrorDetail[] = [];
    batch.forEach((p, i) => {
      if (taken.skus.has(p.sku))
        details.push({ field: `products[${i}].sku`, message: "Already taken" });
      if (p.slug !== undefined && taken.slugs.has(p.slug))
        details.push({ field: `products[${i}].slug`, message: "Already taken" });
    });
    if (details.length) throw AppError.conflict("A product with this sku or slug exists", details);
  }

  /**
   * Slugs for new products: the given one as it is (a duplicate fails on the
   * unique index → 409), else the name's slug with the first free suffix,
   * counting the slugs taken in the database and earlier in the batch.
   */
  private async allocateSlugs(batch: ProductFields[], tx: Transaction): Promise<string[]> {
    const bases = batch.map((p) => (p.slug === undefined ? slugify(p.name, "product") : null));
    const wanted = [...new Set(bases.filter((b): b is string => b !== null))];
    const taken = await this.deps.repository.productSlugsLike(wanted, tx);
    const given = batch.flatMap((p) => (p.slug === undefined ? [] : [p.slug]));
    return batch.map((p, i) => {
      const base = bases[i];
      if (base === null) return p.slug!;
      const used = taken.get(base)!;
      const slug = firstFreeSlug(base, [...used, ...given.filter((s) => isSuffixOf(base, s))]);
      used.push(slug);
      return slug;
    });
  }

  private newRecord(fields: ProductFields, slug: string): ProductRecord {
    const now = this.now();
    return {
      id: randomUUID(),
      ...fields,
      slug,
      version: 1,
      available: 0,
      stockVersion: 0,
      createdAt: now,
      updatedAt: now,
    };
  }

  private nextVersion(product: ProductRecord, diff: Partial<ProductFields>): ProductRecord {
    return { ...product, ...diff, version: product.version + 1, updatedAt: this.now() };
  }
}

function versionOf(product: ProductRecord): { version: number; updatedAt: Date } {
  return { version: product.version, updatedAt: product.updatedAt };
}

function assertCategoryExists(tree: CategoryTree, categoryId: string, field: string): void {
  if (!tree.get(categoryId))
    throw AppError.validation("Unknown category", [{ field, message: "No category has this id" }]);
}

/** Two products of one batch with the same sku or slug: the batch is refused (409). */
function assertNoDuplicatesWithin(batch: ProductFields[]): void {
  const details: ErrorDetail[] = [];
  for (const key of ["sku", "slug"] as const) {
    const seen = new Set<string>();
    batch.forEach((p, i) => {
      const value = p[key];
      if (value === undefined) return;
      if (seen.has(value))
        details.push({ field: `products[${i}].${key}`, message: "Duplicate in batch" });
      seen.add(value);
    });
  }
  if (details.length) throw AppError.conflict("Products of the batch share a sku or slug", details);
}

/** Export cursors are opaque to callers: the last id they got, base64url-encoded. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(lastId, "utf8").toString("base64url");
}

export function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, "base64url").toString("utf8");
  if (!isUuid(id))
    throw AppError.validation("Invalid cursor", [
      { field: "cursor", message: "Not a cursor this action returned" },
    ]);
  return id.toLowerCase();
}

/** A StockChanged payload as far as the catalog reads it; a malformed one throws (→ DLQ). */
export function parseStockLevel(payload: unknown): StockLevel {
  const p = (typeof payload === "object" && payload !== null ? payload : {}) as Partial<StockLevel>;
  if (typeof p.productId !== "string" || !isUuid(p.productId))
    throw new Error("StockChanged payload: productId must be a UUID");
  if (!Number.isInteger(p.available) || !Number.isInteger(p.version))
    throw new Error("StockChanged payload: available and version must be integers");
  return {
    productId: p.productId.toLowerCase(),
    onHand: Number(p.onHand ?? 0),
    reserved: Number(p.reserved ?? 0),
    available: p.available!,
    version: p.version!,
  };
}
