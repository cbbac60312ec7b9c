import {
  DataTypes,
  Model,
  ModelStatic,
  Op,
  QueryTypes,
  Sequelize,
  Transaction,
  UniqueConstraintError,
  WhereOptions,
} from "sequelize";
import type { ProductStatus } from "../../lib/contracts/catalog";
import type { RelationalDatabase } from "../../lib/infra/relational";
import { isUniqueViolation } from "../../lib/infra/relational/errors";
import { OUTBOX_TABLE } from "../../lib/messaging/outbox";
import type { CategoryRecord } from "./domain/category-tree";
import { brandKey, ProductFields, ProductRecord } from "./domain/product";
import type { SortOrder } from "./domain/product-query";
import { isSuffixOf } from "./domain/slug";

/**
 * Persistence of the catalog (tables in migrations.ts). Models live on the
 * service's own Sequelize instance. Writes take the caller's transaction;
 * reads may (and do, inside use cases that write).
 */
interface ProductRow {
  id: string;
  sku: string;
  slug: string;
  name: string;
  description: string;
  brand: string;
  brandKey: string;
  categoryId: string;
  priceAmount: number | string;
  priceCurrency: string;
  attributes: string;
  images: string;
  status: ProductStatus;
  version: number;
  available: number;
  stockVersion: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface CategoryRefresh {
  id: string;
  categoryId: string;
  afterProductId: string | null;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

type ProductModel = ModelStatic<Model<ProductRow, ProductRow>>;
type CategoryModel = ModelStatic<Model<CategoryRecord, CategoryRecord>>;
type RefreshModel = ModelStatic<Model<CategoryRefresh, CategoryRefresh>>;

export interface ProductPage {
  rows: ProductRecord[];
  total: number;
}

export interface ListQuery {
  where: WhereOptions;
  order: SortOrder;
  offset: number;
  limit: number;
}

export class CatalogRepository {
  private readonly products: ProductModel;
  private readonly categories: CategoryModel;
  private readonly refreshes: RefreshModel;

  private readonly caseInsensitiveName: boolean;

  constructor(sequelize: Sequelize) {
    // MySQL's utf8mb4_unicode_ci already sorts names case-insensitively; SQLite needs NOCASE.
    this.caseInsensitiveName = sequelize.getDialect() === "sqlite";
    this.categories = defineCategories(sequelize);
    this.products = defineProducts(sequelize);
    this.refreshes = defineRefreshes(sequelize);
  }

  // ---- categories

  /** Every category. With `lock`, their rows stay locked until tx ends (serialises tree edits on MySQL). */
  async loadCategories(tx?: Transaction, lock = false): Promise<CategoryRecord[]> {
    const rows = await this.categories.findAll({
      transaction: tx,
      ...(lock && tx ? { lock: tx.LOCK.UPDATE } : {}),
    });
    return rows.map((row) => row.get({ plain: true }));
  }

  async insertCategory(category: CategoryRecord, tx: Transaction): Promise<void> {
    await this.categories.create(category, { transaction: tx });
  }

  async updateCategory(
    id: string,
    changes: Partial<Pick<CategoryRecord, "parentId" | "slug" | "name" | "position" | "updatedAt">>,
    tx: Transaction,
  ): Promise<void> {
    await this.categories.update(changes, { where: { id }, transaction: tx });
  }

  /** Category slugs that are `base` or `base-<n>`. */
  async categorySlugsLike(base: string, tx: Transaction): Promise<string[]> {
    const rows = await this.categories.findAll({
      attributes: ["slug"],
      where: { [Op.or]: [{ slug: base }, { slug: { [Op.like]: `${base}-%` } }] },
      transaction: tx,
    });
    return rows.map((r) => r.get("slug") as string).filter((slug) => isSuffixOf(base, slug));
  }

  // ---- products

  async findProduct(id: string, tx?: Transaction, lock = false): Promise<ProductRecord | null> {
    const row = await this.products.findByPk(id, {
      transaction: tx,
      ...(lock && tx ? { lock: tx.LOCK.UPDATE } : {}),
    });
    return row ? toRecord(row.get({ plain: true })) : null;
  }

  async findProductBySlug(slug: string, tx?: Transaction): Promise<ProductRecord | null> {
    const row = await this.products.findOne({ where: { slug }, transaction: tx });
    return row ? toRecord(row.get({ plain: true })) : null;
  }

  async findProducts(ids: string[], tx?: Transaction): Promise<ProductRecord[]> {
    if (!ids.length) return [];
    const rows = await this.products.findAll({ where: { id: { [Op.in]: ids } }, transaction: tx });
    return rows.map((row) => toRecord(row.get({ plain: true })));
  }

  /** The slugs of these products (unknown ids left out): what their pages are cached under. */
  async productSlugs(ids: string[]): Promise<{ id: string; slug: string }[]> {
    if (!ids.length) return [];
    return this.products.sequelize!.query<{ id: string; slug: string }>(
      "SELECT id, slug FROM products WHERE id IN (?)",
      { replacements: [ids], type: QueryTypes.SELECT },
    );
  }

  /** One multi-row INSERT. Throws UniqueConstraintError on a taken sku or slug. */
  async insertProducts(products: ProductRecord[], tx: Transaction): Promise<void> {
    if (!products.length) return;
    await this.products.bulkCreate(products.map(toRow), { transaction: tx, validate: false });
  }

  async updateProduct(
    id: string,
    fields: Partial<ProductFields> & { version: number; updatedAt: Date },
    tx: Transaction,
  ): Promise<void> {
    const row: Partial<ProductRow> = {
      version: fields.version,
      updatedAt: fields.updatedAt,
    };
    if (fields.sku !== undefined) row.sku = fields.sku;
    if (fields.slug !== undefined) row.slug = fields.slug;
    if (fields.name !== undefined) row.name = fields.name;
    if (fields.description !== undefined) row.description = fields.description;
    if (fields.brand !== undefined) {
      row.brand = fields.brand;
      row.brandKey = brandKey(fields.brand);
    }
    if (fields.categoryId !== undefined) row.categoryId = fields.categoryId;
    if (fields.price !== undefined) {
      row.priceAmount = fields.price.amount;
      row.priceCurrency = fields.price.currency;
    }
    if (fields.attributes !== undefined) row.attributes = JSON.stringify(fields.attributes);
    if (fields.images !== undefined) row.images = JSON.stringify(fields.images);
    if (fields.status !== undefined) row.status = fields.status;
    await this.products.update(row, { where: { id }, transaction: tx });
  }

  /** Which of these SKUs and slugs products already have. */
  async takenSkusAndSlugs(
    skus: string[],
    slugs: string[],
    tx: Transaction,
  ): Promise<{ skus: Set<string>; slugs: Set<string> }> {
    const values = async (column: "sku" | "slug", wanted: string[]) => {
      if (!wanted.length) return new Set<string>();
      const rows = await this.products.findAll({
        attributes: [column],
        where: { [column]: { [Op.in]: wanted } },
        transaction: tx,
      });
      return new Set(rows.map((r) => r.get(column) as string));
    };
    return { skus: await values("sku", skus), slugs: await values("slug", slugs) };
  }

  /** Product slugs that are `base` or `base-<n>`, for each base given. */
  async productSlugsLike(bases: string[], tx: Transaction): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>(bases.map((b) => [b, []]));
    if (!bases.length) return out;
    // Exact matches for all bases at once; the suffix scan only for the bases already taken.
    const exact = await this.products.findAll({
      attributes: ["slug"],
      where: { slug: { [Op.in]: bases } },
      transaction: tx,
    });
    for (const row of exact) {
      const base = row.get("slug") as string;
      const rows = await this.products.findAll({
        attributes: ["slug"],
        where: { slug: { [Op.like]: `${base}-%` } },
        transaction: tx,
      });
      const taken = rows
        .map((r) => r.get("slug") as string)
        .filter((slug) => isSuffixOf(base, slug));
      out.set(base, [base, ...taken]);
    }
    return out;
  }

  async listProducts(query: ListQuery): Promise<ProductPage> {
    const { rows, count } = await this.products.findAndCountAll({
      where: query.where,
      order: query.order.map(([column, direction]) => [this.sortKey(column), direction]),
      offset: query.offset,
      limit: query.limit,
    });
    return { rows: rows.map((row) => toRecord(row.get({ plain: true }))), total: count };
  }

  private sortKey(column: string): string | ReturnType<typeof Sequelize.literal> {
    return column === "name" && this.caseInsensitiveName
      ? Sequelize.literal("`Product`.`name` COLLATE NOCASE")
      : column;
  }

  /** Products ordered by id after `afterId` (a keyset page). */
  async productsAfter(
    afterId: string | undefined,
    limit: number,
    status?: ProductStatus,
  ): Promise<ProductRecord[]> {
    const where: Record<string, unknown> = {};
    if (afterId) where.id = { [Op.gt]: afterId };
    if (status) where.status = status;
    const rows = await this.products.findAll({ where, order: [["id", "ASC"]], limit });
    return rows.map((row) => toRecord(row.get({ plain: true })));
  }

  /**
   * Stores a stock level if it is newer than the one held (a conditional
   * update: duplicates and late arrivals change nothing). False when nothing
   * changed (older level, or an unknown product).
   */
  async applyStockLevel(
    productId: string,
    available: number,
    stockVersion: number,
    tx?: Transaction,
  ): Promise<boolean> {
    // Plain SQL: every order sends two levels here, and a model update costs
    // several times the statement it issues.
    const [, changed] = (await this.products.sequelize!.query(
      "UPDATE products SET available = ?, stock_version = ? WHERE id = ? AND stock_version < ?",
      {
        replacements: [available, stockVersion, productId, stockVersion],
        type: QueryTypes.UPDATE,
        transaction: tx,
      },
    )) as unknown as [unknown, number];
    return Number(changed) > 0;
  }

  /** Ids of the products in these categories after `afterId`, in id order, locked until tx ends. */
  async productIdsInCategories(
    categoryIds: string[],
    afterId: string | null,
    limit: number,
    tx: Transaction,
  ): Promise<string[]> {
    if (!categoryIds.length) return [];
    const where: Record<string, unknown> = { categoryId: { [Op.in]: categoryIds } };
    if (afterId) where.id = { [Op.gt]: afterId };
    const rows = await this.products.findAll({
      attributes: ["id"],
      where,
      order: [["id", "ASC"]],
      limit,
      transaction: tx,
      lock: tx.LOCK.UPDATE,
    });
    return rows.map((r) => r.get("id") as string);
  }

  /** +1 on the version of each product (their snapshot changed through their category). */
  async bumpVersions(ids: string[], now: Date, tx: Transaction): Promise<void> {
    if (!ids.length) return;
    await this.products.update(
      { version: Sequelize.literal("version + 1") as unknown as number, updatedAt: now },
      { where: { id: { [Op.in]: ids } }, transaction: tx, silent: true },
    );
  }

  async countProducts(): Promise<number> {
    return this.products.count();
  }

  // ---- category refreshes (see category.use-cases.ts)

  async insertRefresh(refresh: CategoryRefresh, tx: Transaction): Promise<void> {
    await this.refreshes.create(refresh, { transaction: tx });
  }

  async lockRefresh(id: string, tx: Transaction): Promise<CategoryRefresh | null> {
    const row = await this.refreshes.findByPk(id, { transaction: tx, lock: tx.LOCK.UPDATE });
    return row ? row.get({ plain: true }) : null;
  }

  async unfinishedRefreshIds(limit: number): Promise<string[]> {
    const rows = await this.refreshes.findAll({
      attributes: ["id"],
      where: { finishedAt: null },
      order: [["createdAt", "ASC"]],
      limit,
    });
    return rows.map((r) => r.get("id") as string);
  }

  async advanceRefresh(
    id: string,
    changes: Pick<CategoryRefresh, "afterProductId" | "updatedAt" | "finishedAt">,
    tx: Transaction,
  ): Promise<void> {
    await this.refreshes.update(changes, { where: { id }, transaction: tx });
  }
}

/** Which unique key a failed insert or update hit: "sku" or "slug" (of products or categories). */
export function uniqueViolation(err: unknown): "sku" | "slug" | undefined {
  if (!isUniqueViolation(err) || !(err instanceof UniqueConstraintError)) return undefined;
  // SQLite names the columns ("products.sku"), MySQL the index ("products_sku_unique").
  const fields = err.fields;
  const text = [
    ...(Array.isArray(fields) ? fields : Object.keys(fields ?? {})),
    (err.parent as Error | undefined)?.message ?? "",
  ].join(" ");
  if (/\bsku\b|_sku_/.test(text)) return "sku";
  if (/\bslug\b|_slug_/.test(text)) return "slug";
  return undefined;
}

/**
 * Empties the catalog (products, categories, pending refreshes, outbox):
 * for `npm run seed -- --clean` only. Nothing is published about what goes:
 * the search index is rebuilt from catalog.export afterwards.
 */
export async function clearCatalog(db: RelationalDatabase): Promise<void> {
  await db.transaction(async (tx) => {
    for (const sql of [
      "DELETE FROM products",
      "DELETE FROM category_refreshes",
      "UPDATE categories SET parent_id = NULL",
      "DELETE FROM categories",
      `DELETE FROM ${OUTBOX_TABLE}`,
    ])
      await db.sequelize.query(sql, { transaction: tx, type: QueryTypes.RAW });
  });
}

/** Refreshes the planner's statistics after a bulk load (the seed), so list queries pick good indexes. */
export async function analyzeCatalog(db: RelationalDatabase): Promise<void> {
  await db.sequelize.query(
    db.adapter === "sqlite" ? "ANALYZE" : "ANALYZE TABLE products, categories",
  );
}

function toRecord(row: ProductRow): ProductRecord {
  return {
    id: row.id,
    sku: row.sku,
    slug: row.slug,
    name: row.name,
    description: row.description,
    brand: row.brand,
    categoryId: row.categoryId,
    price: { amount: Number(row.priceAmount), currency: row.priceCurrency },
    attributes: JSON.parse(row.attributes) as Record<string, string>,
    images: JSON.parse(row.images) as string[],
    status: row.status,
    version: Number(row.version),
    available: Number(row.available),
    stockVersion: Number(row.stockVersion),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function toRow(product: ProductRecord): ProductRow {
  return {
    id: product.id,
    sku: product.sku,
    slug: product.slug,
    name: product.name,
    description: product.description,
    brand: product.brand,
    brandKey: brandKey(product.brand),
    categoryId: product.categoryId,
    priceAmount: product.price.amount,
    priceCurrency: product.price.currency,
    attributes: JSON.stringify(product.attributes),
    images: JSON.stringify(product.images),
    status: product.status,
    version: product.version,
    available: product.available,
    stockVersion: product.stockVersion,
    createdAt: product.createdAt,
    updatedAt: product.updatedAt,
  };
}

// Factories, not shared objects: Sequelize writes `field` into each attribute definition.
const uuidKey = () => ({ type: DataTypes.UUID, primaryKey: true, allowNull: false });
const timestamp = () => ({ type: DataTypes.DATE(3), allowNull: false });

function defineCategories(sequelize: Sequelize): CategoryModel {
  return sequelize.define<Model<CategoryRecord, CategoryRecord>>(
    "Category",
    {
      id: uuidKey(),
      parentId: { type: DataTypes.UUID, allowNull: true },
      slug: { type: DataTypes.STRING(120), allowNull: false },
      name: { type: DataTypes.STRING(100), allowNull: false },
      position: { type: DataTypes.INTEGER, allowNull: false },
      createdAt: timestamp(),
      updatedAt: timestamp(),
    },
    { tableName: "categories", underscored: true, timestamps: false },
  );
}

function defineProducts(sequelize: Sequelize): ProductModel {
  return sequelize.define<Model<ProductRow, ProductRow>>(
    "Product",
    {
      id: uuidKey(),
      sku: { type: DataTypes.STRING(64), allowNull: false },
      slug: { type: DataTypes.STRING(120), allowNull: false },
      name: { type: DataTypes.STRING(200), allowNull: false },
      description: { type: DataTypes.TEXT, allowNull: false },
      brand: { type: DataTypes.STRING(100), allowNull: false },
      brandKey: { type: DataTypes.STRING(100), allowNull: false },
      categoryId: { type: DataTypes.UUID, allowNull: false },
      priceAmount: { type: DataTypes.BIGINT, allowNull: false },
      priceCurrency: { type: DataTypes.CHAR(3), allowNull: false },
      attributes: { type: DataTypes.TEXT, allowNull: false },
      images: { type: DataTypes.TEXT, allowNull: false },
      status: { type: DataTypes.STRING(16), allowNull: false },
      version: { type: DataTypes.INTEGER, allowNull: false },
      available: { type: DataTypes.INTEGER, allowNull: false },
      stockVersion: { type: DataTypes.INTEGER, allowNull: false },
      createdAt: timestamp(),
      updatedAt: timestamp(),
    },
    // Timestamps are set by the use cases (one clock per change, also in the snapshot).
    { tableName: "products", underscored: true, timestamps: false },
  );
}

function defineRefreshes(sequelize: Sequelize): RefreshModel {
  return sequelize.define<Model<CategoryRefresh, CategoryRefresh>>(
    "CategoryRefresh",
    {
      id: uuidKey(),
      categoryId: { type: DataTypes.UUID, allowNull: false },
      afterProductId: { type: DataTypes.UUID, allowNull: true },
      createdAt: timestamp(),
      updatedAt: timestamp(),
      finishedAt: { type: DataTypes.DATE(3), allowNull: true },
    },
    { tableName: "category_refreshes", underscored: true, timestamps: false },
  );
}
