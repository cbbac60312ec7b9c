import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { StockLevel } from "../../lib/contracts/catalog";
import { infrastructureOf } from "../../lib/infra";
import { businessMetrics } from "../../lib/observability/metrics";
import { durableChannel } from "../../lib/messaging/channel";
import { Topics } from "../../lib/messaging/topics";
import {
  SEARCH_REBUILD_PROGRESS_EVENT,
  SearchRebuildProgress,
} from "../../lib/ops/search-progress";
import { createSearchIndex, indexIsPerNode } from "./create-index";
import type { SearchIndex } from "./index-port";
import { CachedSearchIndex } from "./cached-index";
import { ProductEventIndexer } from "./indexer";
import { CatalogExportPage, rebuildIndex, RebuildResult, RebuildRunner } from "./rebuild";
import * as P from "./search.params";

/**
 * The search service (ARCHITECTURE §3): product search with typo tolerance,
 * filters and facets, and suggestions, over the search index port (MiniSearch
 * in process, or Elasticsearch with ELASTICSEARCH_URL). The index follows
 * `product.events`; `search.rebuild` reindexes from the catalog. Moleculer
 * glue only: the rules are in the modules beside it.
 */
interface SearchLocals {
  index: SearchIndex;
  indexer: ProductEventIndexer;
  rebuilds: RebuildRunner;
  channelGroup: string;
  stopping: boolean;
}

interface SearchMethods {
  rebuildFromCatalog(clear?: boolean, pageSize?: number): Promise<RebuildResult>;
  rebuildWhenReady(): Promise<void>;
}

type SearchThis = Service & SearchLocals & SearchMethods;

const DEPENDENCIES = ["catalog", "inventory"];
/** Longest pause between attempts of the start-up rebuild. */
const MAX_RETRY_DELAY_MS = 30_000;

/**
 * One consumer group shares the events when the index is shared
 * (Elasticsearch). An in-process index lives on each search node, so with
 * durable channels each node needs every event: a group of its own.
 */
function channelGroup(svc: Service): string {
  const { config } = infrastructureOf(svc.broker);
  if (!indexIsPerNode(config) || !config.channelsUrl) return "search";
  return `search-${svc.broker.nodeID.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

function productEvents(group: string) {
  // maxInFlight 1: a node applies events one after another, in the order it receives them.
  return durableChannel<unknown, SearchThis>(Topics.ProductEvents, {
    group,
    maxInFlight: 1,
    async handler(envelope) {
      const applied = await this.indexer.apply(envelope);
      // How long a catalog change took to become searchable (stale versions included: they
      // were processed too). A stuck consumer shows as no observations, not as a big lag.
      if (applied) businessMetrics(this.broker).searchIndexLag(applied.lagMs);
    },
  });
}

const SearchService: ServiceSchema<ServiceSettingSchema, SearchMethods, SearchLocals> & {
  merged(this: Service, schema: ServiceSchema): void;
} = {
  name: "search",
  settings: { rest: "/" },

  actions: {
    search: {
      rest: "GET /search",
      auth: "public",
      openapi: {
        summary: "Search products: typo-tolerant text, filters, facets, sort, pages",
        description:
          "Facet counts are over the whole filtered result. Sort: relevance (default with q), " +
          "price, -price, name, newest (default without q). Attribute filters: attr[color]=red.",
        tags: ["search"],
      },
      params: P.searchParams,
      handler(this: SearchThis, ctx: Context<P.SearchParams>) {
        return this.index.query(P.toSearchQuery(ctx.params));
      },
    },

    suggest: {
      rest: "GET /search/suggest",
      auth: "public",
      openapi: {
        summary: "Product names completing what the shopper typed",
        tags: ["search"],
        response: { suggestions: [{ text: "Sony WH-1000XM5", productId: "…", slug: "…" }] },
      },
      params: P.suggestParams,
      async handler(this: SearchThis, ctx: Context<P.SuggestParams>) {
        const limit = ctx.params.limit ?? P.DEFAULT_SUGGESTIONS;
        return { suggestions: await this.index.suggest(ctx.params.q, limit) };
      },
    },

    // Operator actions (REPL, or the admin routes).

    rebuild: {
      rest: "POST /search/rebuild",
      auth: "admin",
      // A large catalog takes a while; the default request timeout would cut it off.
      // (Moleculer's timeout middleware reads action.timeout; its typings leave it out.)
      ...({ timeout: 15 * 60_000 } as object),
      openapi: {
        summary: "Reindex every active product from the catalog and inventory",
        tags: ["search"],
        response: { indexed: 1200, tookMs: 850 },
      },
      params: P.rebuildParams,
      handler(this: SearchThis, ctx: Context<P.RebuildParams>) {
        return this.rebuildFromCatalog(ctx.params.clear, ctx.params.pageSize);
      },
    },

    status: {
      rest: "GET /search/status",
      auth: "admin",
      openapi: {
        summary: "Index adapter, size, last event applied and rebuild state",
        tags: ["search"],
      },
      params: { $$strict: true },
      async handler(this: SearchThis) {
        return {
          adapter: this.index.adapter,
          documents: await this.index.count(),
          channelGroup: this.channelGroup,
          lastEvent: this.indexer.lastEvent ?? null,
          rebuild: this.rebuilds.status,
        };
      },
    },
  },

  channels: { [Topics.ProductEvents]: productEvents("search") },

  // The group depends on the node's configuration, known once the broker is. A new
  // definition object each time: the channels middleware reads it when this service
  // is created, so brokers sharing this schema object in one process never mix groups.
  merged(this: Service, schema: ServiceSchema) {
    schema.channels = { [Topics.ProductEvents]: productEvents(channelGroup(this)) };
  },

  methods: {
    rebuildFromCatalog(this: SearchThis, clear = false, pageSize = P.MAX_REBUILD_PAGE_SIZE) {
      return this.rebuilds.start(async () => {
        if (clear) await this.index.clear();
        this.logger.info("Rebuilding the search index from the catalog…");
        const result = await rebuildIndex(
          this.index,
          {
            exportPage: (cursor) =>
              this.broker.call<CatalogExportPage, object>(
                "catalog.export",
                { ...(cursor ? { cursor } : {}), limit: pageSize, status: "active" },
                { timeout: 60_000 },
              ),
            stockLevels: (productIds) =>
              this.broker.call<StockLevel[], object>(
                "inventory.levels",
                { productIds },
                { timeout: 60_000 },
              ),
          },
          (progress) => {
            const { indexed, total, percent } = progress;
            this.logger.info(
              percent !== undefined
                ? `Search rebuild: ${percent}% (${indexed} of ${total})`
                : `Search rebuild: ${indexed} products so far`,
            );
            // For an operator watching from the REPL (search rebuild); losing one is harmless.
            const event: SearchRebuildProgress = { nodeID: this.broker.nodeID, ...progress };
            void Promise.resolve(this.broker.broadcast(SEARCH_REBUILD_PROGRESS_EVENT, event)).catch(
              () => undefined,
            );
          },
        );
        this.logger.info(`Search index rebuilt: ${result.indexed} products in ${result.tookMs} ms`);
        return result;
      });
    },

    /**
     * The start-up rebuild, in the background so the service starts (and
     * answers, from an empty index) without catalog or inventory; retried
     * with backoff until it succeeds. Elasticsearch keeps its index, so it is
     * rebuilt only when empty (first start).
     */
    async rebuildWhenReady(this: SearchThis) {
      let delay = 1000;
      while (!this.stopping) {
        try {
          const persistent = !indexIsPerNode(infrastructureOf(this.broker).config);
          if (persistent && (await this.index.count()) > 0) return;
          await this.broker.waitForServices(DEPENDENCIES, 30_000);
          if (this.stopping) return;
          await this.rebuildFromCatalog();
          return;
        } catch (err) {
          if (this.stopping) return;
          this.logger.warn(
            `Search index rebuild failed (${(err as Error).message}); retrying in ${delay} ms`,
          );
          await new Promise((resolve) => setTimeout(resolve, delay).unref());
          delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
        }
      }
    },
  },

  async started(this: SearchThis) {
    const infra = infrastructureOf(this.broker);
    this.stopping = false;
    this.index = new CachedSearchIndex(createSearchIndex(infra.config));
    await this.index.open();
    infra.setProbe("search", () => this.index.ping());
    this.indexer = new ProductEventIndexer(this.index);
    this.rebuilds = new RebuildRunner();
    this.channelGroup = channelGroup(this);
    void this.rebuildWhenReady();
  },

  async stopped(this: SearchThis) {
    this.stopping = true;
    infrastructureOf(this.broker).setProbe("search", undefined);
    await this.index?.close();
  },
};

// Brokers and tests take untyped schemas; the typed `this` above is for the handlers.
export default SearchService as unknown as ServiceSchema;
