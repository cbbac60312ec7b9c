import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { RequestMeta } from "../../lib/auth/meta";
import { durableChannel } from "../../lib/messaging/channel";
import { EventTypes, Topics } from "../../lib/messaging/topics";
import { DatabaseMixin, DatabaseThis } from "../../mixins/database.mixin";
import { OutboxMixin } from "../../mixins/outbox.mixin";
import { serviceMigrations } from "../migrations";
import { availabilityEntries, pageCacheKey, ProductKeys } from "./cache-entries";
import { Coalesced, Throttled } from "./cache-invalidation";
import type { CatalogOutbox } from "./catalog-events";
import { CatalogRepository } from "./catalog-repository";
import { CategoryTreeMemo } from "./category-tree-memo";
import { CategoryTree } from "./domain/category-tree";
import { CategoryRefresher } from "./category-refresher";
import { CategoryUseCases } from "./category.use-cases";
import { parseStockLevel, ProductUseCases } from "./product.use-cases";
import { SnapshotCache } from "./snapshot-cache";
import type { CatalogDependencies } from "./use-case-support";
import * as P from "./catalog.params";

/**
 * The catalog service (ARCHITECTURE §3): categories and products, public
 * browsing, admin edits, the internal reads other services make, and a local
 * copy of stock levels (StockChanged). Moleculer glue only: each action
 * checks its input and hands over to a use case.
 *
 * Public reads are cached (Moleculer cacher: memory, or Redis with REDIS_URL)
 * and every committed change cleans `catalog.**` here and, through an
 * ephemeral broadcast, on the other nodes, before the caller hears back.
 * Stock levels clean only what shows availability: the changed products'
 * pages and the product lists (cache-entries.ts), at most once a second.
 */
interface CatalogLocals extends DatabaseThis {
  outbox: CatalogOutbox;
  products: ProductUseCases;
  categories: CategoryUseCases;
  refresher: CategoryRefresher;
  invalidation: Coalesced;
  availabilityInvalidation: Throttled<string>;
  categoryTree: CategoryTreeMemo;
  snapshotCache: SnapshotCache;
}

interface CatalogMethods {
  cleanLocalCache(): Promise<void>;
  cleanAvailability(productIds: string[]): Promise<void>;
  cleanLocalAvailability(products: ProductKeys[]): Promise<void>;
  tellOtherNodes(notice: CacheCleanNotice): Promise<void>;
}

/** The broadcast's payload: the products whose availability changed, or nothing for a full clean. */
interface CacheCleanNotice {
  products?: ProductKeys[];
}

type CatalogThis = CatalogLocals & CatalogMethods & { broker: Context["broker"] };

/** moleculer-web sends `$location` as the Location header of a 201. */
type Ctx<P> = Context<P, RequestMeta & { $location?: string }>;

/** Broadcast after a change so that catalog instances on other nodes drop their cached reads. */
export const CACHE_CLEAN_EVENT = "cache.clean.catalog";
/** Cached reads live at most this long even if an invalidation is lost. */
const CACHE_TTL_SEC = 60;
/** How late a cached read may show a product's availability (stock levels clean the cache at most this often). */
const AVAILABILITY_MAX_AGE_MS = 1000;
/** More products changed in one interval than this (a bulk stock update): one full clean costs less. */
const TARGETED_CLEAN_MAX_PRODUCTS = 500;

function respondCreated(ctx: Ctx<unknown>, location: string): void {
  ctx.meta.$statusCode = 201;
  ctx.meta.$location = `/api/v1${location}`;
}

const CatalogService: ServiceSchema<ServiceSettingSchema, CatalogMethods, CatalogLocals> = {
  name: "catalog",
  mixins: [DatabaseMixin({ migrations: serviceMigrations.catalog }), OutboxMixin()],
  settings: { rest: "/" },

  actions: {
    // ---- public

    listCategories: {
      rest: "GET /categories",
      auth: "public",
      cache: { ttl: CACHE_TTL_SEC },
      openapi: {
        summary: "The category tree (children by position, then name)",
        tags: ["catalog"],
      },
      params: { $$strict: true },
      handler() {
        return this.categories.tree();
      },
    },

    getCategory: {
      rest: "GET /categories/:idOrSlug",
      auth: "public",
      cache: { keys: ["idOrSlug"], ttl: CACHE_TTL_SEC },
      openapi: { summary: "A category with its children and breadcrumb", tags: ["catalog"] },
      params: P.idOrSlugParams,
      handler(ctx: Ctx<P.IdOrSlugParams>) {
        return this.categories.detail(ctx.params.idOrSlug);
      },
    },

    listProducts: {
      rest: "GET /products",
      auth: "public",
      cache: {
        keys: ["category", "brand", "minPrice", "maxPrice", "inStock", "sort", "page", "pageSize"],
        ttl: CACHE_TTL_SEC,
      },
      openapi: {
        summary: "Active products: filter by category (with sub-categories), brand, price, stock",
        tags: ["catalog"],
      },
      params: P.listProductsParams,
      handler(ctx: Ctx<P.ListProductsParams>) {
        return this.products.list(ctx.params);
      },
    },

    getProduct: {
      rest: "GET /products/:idOrSlug",
      auth: "public",
      cache: {
        // Under the key a stock change removes (cache-entries.ts).
        keygen: (action, _opts, ctx) =>
          pageCacheKey(action.name!, (ctx.params as { idOrSlug?: unknown }).idOrSlug),
        ttl: CACHE_TTL_SEC,
      },
      openapi: { summary: "An active product by id or slug, with availability", tags: ["catalog"] },
      params: P.idOrSlugParams,
      handler(ctx: Ctx<P.IdOrSlugParams>) {
        return this.products.publicProduct(ctx.params.idOrSlug);
      },
    },

    // ---- admin

    createProduct: {
      rest: "POST /products",
      auth: "admin",
      openapi: { summary: "Create a product", tags: ["catalog admin"], status: 201 },
      params: P.createProductParams,
      async handler(ctx: Ctx<P.CreateProductParams>) {
        const product = await this.products.create(ctx.params, ctx);
        respondCreated(ctx, `/products/${product.id}`);
        return product;
      },
    },

    updateProduct: {
      rest: "PATCH /products/:id",
      auth: "admin",
      openapi: {
        summary: "Change a product (any field but id, version, timestamps)",
        tags: ["catalog admin"],
      },
      params: P.updateProductParams,
      handler(ctx: Ctx<P.UpdateProductParams>) {
        const { id, ...changes } = ctx.params;
        return this.products.update(id, changes, ctx);
      },
    },

    archiveProduct: {
      rest: "DELETE /products/:id",
      auth: "admin",
      openapi: {
        summary: "Archive a product (hidden from the shop)",
        tags: ["catalog admin"],
        status: 204,
      },
      params: P.productIdParams,
      async handler(ctx: Ctx<P.ProductIdParams>) {
        await this.products.archive(ctx.params.id, ctx);
        ctx.meta.$statusCode = 204;
      },
    },

    createCategory: {
      rest: "POST /categories",
      auth: "admin",
      openapi: { summary: "Create a category", tags: ["catalog admin"], status: 201 },
      params: P.createCategoryParams,
      async handler(ctx: Ctx<P.CreateCategoryParams>) {
        const category = await this.categories.create(ctx.params);
        respondCreated(ctx, `/categories/${category.id}`);
        return category;
      },
    },

    updateCategory: {
      rest: "PATCH /categories/:id",
      auth: "admin",
      openapi: { summary: "Rename, move or reorder a category", tags: ["catalog admin"] },
      params: P.updateCategoryParams,
      handler(ctx: Ctx<P.UpdateCategoryParams>) {
        const { id, ...changes } = ctx.params;
        return this.categories.update(id, changes);
      },
    },

    // ---- internal (no REST route), for other services

    get: {
      visibility: "public",
      params: P.getParams,
      handler(ctx: Ctx<P.GetParams>) {
        return this.products.snapshot(ctx.params.id);
      },
    },

    getMany: {
      visibility: "public",
      // Carts price every read with this; cleaned on every change (not on stock: no availability here).
      // A list not seen yet is put together from products cached one by one.
      cache: { keys: ["ids"], ttl: CACHE_TTL_SEC },
      params: P.getManyParams,
      handler(ctx: Ctx<P.GetManyParams>) {
        return this.snapshotCache.snapshots(ctx.params.ids, (ids) => this.products.snapshots(ids));
      },
    },

    export: {
      visibility: "public",
      params: P.exportParams,
      handler(ctx: Ctx<P.ExportParams>) {
        return this.products.exportPage(ctx.params);
      },
    },

    importProducts: {
      visibility: "public",
      // Up to 500 products with their outbox rows in one transaction: callers give a longer timeout.
      params: P.importProductsParams,
      async handler(ctx: Ctx<P.ImportProductsParams>) {
        return { created: await this.products.importProducts(ctx.params.products, ctx) };
      },
    },
  },

  events: {
    [CACHE_CLEAN_EVENT]: {
      handler(ctx: Context<CacheCleanNotice>) {
        // This node cleaned before it broadcast.
        if (ctx.nodeID === this.broker.nodeID) return;
        const { products } = ctx.params ?? {};
        return Array.isArray(products)
          ? this.cleanLocalAvailability(products)
          : this.cleanLocalCache();
      },
    },
  },

  channels: {
    [Topics.ProductEvents]: durableChannel<unknown, CatalogThis>(Topics.ProductEvents, {
      group: "catalog",
      // Levels apply only if newer (by their own version), so order does not matter: several
      // at once keep up with a bulk stock update.
      maxInFlight: 16,
      async handler(envelope) {
        // The catalog's own Product* events come by too; only inventory's stock levels matter here.
        if (envelope.type !== EventTypes.StockChanged) return;
        await this.products.applyStockLevel(parseStockLevel(envelope.payload));
      },
    }),
  },

  methods: {
    async cleanLocalCache() {
      this.categoryTree?.invalidate();
      try {
        await this.broker.cacher?.clean(`${this.name}.**`);
      } catch (err) {
        // Reads fall back to the TTL; the change itself is committed.
        this.logger.warn("Could not clean the catalog cache", err);
      }
    },

    /** After stock levels changed: the products' pages and the lists, here and on every node. */
    async cleanAvailability(productIds: string[]) {
      if (productIds.length > TARGETED_CLEAN_MAX_PRODUCTS) return this.invalidation.run();
      let products: ProductKeys[];
      try {
        products = await this.products.pageKeys(productIds);
      } catch (err) {
        this.logger.warn(
          "Could not read the changed products' slugs; cleaning the whole cache",
          err,
        );
        return this.invalidation.run();
      }
      await this.cleanLocalAvailability(products);
      await this.tellOtherNodes({ products });
    },

    /** The cache-clean broadcast; a lost one leaves other nodes' memory caches to their TTL. */
    async tellOtherNodes(notice: CacheCleanNotice) {
      await Promise.resolve(this.broker.broadcast(CACHE_CLEAN_EVENT, notice)).catch(
        (err: unknown) =>
          this.logger.warn("Could not broadcast the catalog cache invalidation", err),
      );
    },

    async cleanLocalAvailability(products: ProductKeys[]) {
      const cacher = this.broker.cacher;
      if (!cacher) return;
      const { keys, patterns } = availabilityEntries(this.name, products);
      try {
        if (keys.length) await cacher.del(keys);
        // One pattern per call: the Redis cacher serves a pattern from its index, an array by a scan.
        for (const pattern of patterns) await cacher.clean(pattern);
      } catch (err) {
        // Reads fall back to the TTL; the stock level itself is committed.
        this.logger.warn("Could not clean the catalog cache after stock changes", err);
      }
    },
  },

  async started() {
    this.invalidation = new Coalesced(async () => {
      await this.cleanLocalCache();
      await this.tellOtherNodes({});
    });
    this.availabilityInvalidation = new Throttled<string>(
      (productIds) => this.cleanAvailability(productIds),
      AVAILABILITY_MAX_AGE_MS,
      (err) => this.logger.warn("Could not clean the catalog cache after stock changes", err),
    );
    const repository = new CatalogRepository(this.db.sequelize);
    this.categoryTree = new CategoryTreeMemo(async () => {
      return new CategoryTree(await repository.loadCategories());
    });
    const deps: CatalogDependencies = {
      repository,
      database: this.db,
      outbox: this.outbox,
      changed: () => this.invalidation.run(),
      availabilityChanged: (productId) => this.availabilityInvalidation.request(productId),
      readTree: () => this.categoryTree.get(),
    };
    this.refresher = new CategoryRefresher(deps, this.logger);
    this.products = new ProductUseCases(deps);
    this.snapshotCache = new SnapshotCache(this.broker.cacher, this.name, CACHE_TTL_SEC);
    this.categories = new CategoryUseCases(deps, this.refresher);
    this.refresher.start();
  },

  async stopped() {
    // Runs before the mixins' stopped hooks, so the database is still open.
    await this.refresher?.stop();
    await this.availabilityInvalidation?.flush();
  },
};

// Brokers and tests take untyped schemas; the typed `this` above is for the handlers.
export default CatalogService as unknown as ServiceSchema;
