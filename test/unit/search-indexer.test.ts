import type { ProductSnapshot, StockLevel } from "../../lib/contracts/catalog";
import { AppError } from "../../lib/errors";
import { createEnvelope } from "../../lib/messaging/envelope";
import { EventTypes } from "../../lib/messaging/topics";
import { ProductEventIndexer } from "../../services/search/indexer";
import { MiniSearchIndex } from "../../services/search/minisearch-index";
import {
  CatalogExportPage,
  rebuildIndex,
  RebuildProgress,
  RebuildRunner,
} from "../../services/search/rebuild";
import { toSearchQuery } from "../../services/search/search.params";
import { byId, CATALOG, STOCK } from "../helpers/search-fixtures";

/** The search service's plain modules: event indexer, rebuild, query parameters. */

const page = { page: 1, pageSize: 20 };

function event(type: string, payload: unknown, occurredAt = new Date()) {
  const aggregateId = (payload as { id?: string; productId?: string }).id ?? "x";
  return createEnvelope({ type, aggregateId, payload, occurredAt });
}

describe("ProductEventIndexer", () => {
  let index: MiniSearchIndex;
  let indexer: ProductEventIndexer;
  const now = new Date("2025-06-01T10:00:00.250Z");

  beforeEach(() => {
    index = new MiniSearchIndex();
    indexer = new ProductEventIndexer(index, () => now);
  });

  const names = async (q: string) => (await index.query({ q, ...page })).items.map((i) => i.name);

  it("upserts created and updated products, and records the lag", async () => {
    const created = event(EventTypes.ProductCreated, byId("p01"), new Date("2025-06-01T10:00:00Z"));
    expect(await indexer.apply(created)).toMatchObject({
      type: "ProductCreated",
      productId: "p01",
      lagMs: 250,
      outcome: "applied",
    });
    const renamed: ProductSnapshot = { ...byId("p01"), name: "Sony Quiet Headphones", version: 2 };
    await indexer.apply(event(EventTypes.ProductUpdated, renamed));
    expect(await names("quiet")).toEqual(["Sony Quiet Headphones"]);
    expect(await names("wireless")).toEqual([]);
    expect(indexer.lastEvent).toMatchObject({
      type: "ProductUpdated",
      messageId: expect.any(String),
    });
  });

  it("removes a product that is archived, or no longer active", async () => {
    await indexer.apply(event(EventTypes.ProductCreated, byId("p01")));
    await indexer.apply(event(EventTypes.ProductCreated, byId("p02")));
    await indexer.apply(event(EventTypes.ProductArchived, { id: "p01", version: 2 }));
    await indexer.apply(
      event(EventTypes.ProductUpdated, { ...byId("p02"), status: "draft", version: 2 }),
    );
    expect(await index.count()).toBe(0);
    // A redelivered older snapshot does not bring either back.
    const stale = await indexer.apply(event(EventTypes.ProductUpdated, byId("p01")));
    expect(stale?.outcome).toBe("ignored");
    expect(await index.count()).toBe(0);
  });

  it("applies stock changes, also before the product exists", async () => {
    const level: StockLevel = {
      productId: "p03",
      onHand: 5,
      reserved: 1,
      available: 4,
      version: 2,
    };
    await indexer.apply(event(EventTypes.StockChanged, level));
    await indexer.apply(event(EventTypes.ProductCreated, byId("p03")));
    const [hit] = (await index.query({ q: "airpods", ...page })).items;
    expect(hit).toMatchObject({ available: 4, inStock: true });
  });

  it("skips event types it does not use", async () => {
    expect(await indexer.apply(event("ProductReviewed", { id: "p01" }))).toBeUndefined();
    expect(indexer.lastEvent).toBeUndefined();
  });

  it.each([
    ["a payload that is not an object", EventTypes.ProductCreated, "nope"],
    [
      "a snapshot without version",
      EventTypes.ProductUpdated,
      { ...byId("p01"), version: undefined },
    ],
    [
      "a snapshot with a float price",
      EventTypes.ProductUpdated,
      { ...byId("p01"), price: { amount: 1.5 } },
    ],
    ["an archive without id", EventTypes.ProductArchived, { version: 3 }],
    ["a stock change without version", EventTypes.StockChanged, { productId: "p1", available: 1 }],
  ])("rejects %s (so the message is retried, then dead-lettered)", async (_what, type, payload) => {
    await expect(indexer.apply(event(type, payload))).rejects.toThrow(
      /bad or missing|not an object/,
    );
    expect(await index.count()).toBe(0);
  });
});

describe("rebuildIndex", () => {
  function catalogSource(pageSize: number, withTotal: boolean) {
    const pages: (string | undefined)[] = [];
    const stockAsks: string[][] = [];
    const source = {
      async exportPage(cursor: string | undefined): Promise<CatalogExportPage> {
        pages.push(cursor);
        const start = cursor ? Number(cursor) : 0;
        const items = CATALOG.slice(start, start + pageSize);
        const next = start + pageSize < CATALOG.length ? String(start + pageSize) : null;
        return { items, nextCursor: next, ...(withTotal ? { total: CATALOG.length } : {}) };
      },
      async stockLevels(ids: string[]) {
        stockAsks.push(ids);
        return STOCK.filter((s) => ids.includes(s.productId));
      },
    };
    return { source, pages, stockAsks };
  }

  it("pages through the catalog with its stock and reports progress every 10 %", async () => {
    const index = new MiniSearchIndex();
    const { source, pages, stockAsks } = catalogSource(5, true);
    const progress: RebuildProgress[] = [];
    const result = await rebuildIndex(index, source, (p) => progress.push(p));
    expect(result).toEqual({ indexed: 12, tookMs: expect.any(Number) });
    expect(pages).toEqual([undefined, "5", "10"]);
    expect(stockAsks.map((ids) => ids.length)).toEqual([5, 5, 2]);
    expect(progress.map((p) => p.percent)).toEqual([40, 80, 100]);
    expect(await index.count()).toBe(12);
    expect((await index.query({ inStock: false, ...page })).total).toBe(3);
  });

  it("writes no product of a page before its stock is known (a search meanwhile would see it out of stock)", async () => {
    const index = new MiniSearchIndex();
    const { source } = catalogSource(5, true);
    const pageInIndexWhileAsking: number[] = [];
    await rebuildIndex(index, {
      exportPage: source.exportPage,
      async stockLevels(ids: string[]) {
        const visible = (await index.query({ page: 1, pageSize: 100 })).items;
        pageInIndexWhileAsking.push(visible.filter((item) => ids.includes(item.id)).length);
        return source.stockLevels(ids);
      },
    });
    expect(pageInIndexWhileAsking).toEqual([0, 0, 0]);
    expect((await index.query({ inStock: false, ...page })).total).toBe(3);
  });

  it("reports pages when the catalog does not say how many there are", async () => {
    const progress: RebuildProgress[] = [];
    await rebuildIndex(new MiniSearchIndex(), catalogSource(5, false).source, (p) =>
      progress.push(p),
    );
    expect(progress).toEqual([{ indexed: 5 }, { indexed: 10 }, { indexed: 12 }]);
  });

  it("never overwrites what events brought in meanwhile", async () => {
    const index = new MiniSearchIndex();
    const indexer = new ProductEventIndexer(index);
    await indexer.apply(
      event(EventTypes.ProductUpdated, { ...byId("p01"), name: "Renamed", version: 5 }),
    );
    await indexer.apply(event(EventTypes.ProductArchived, { id: "p02", version: 4 }));
    await rebuildIndex(index, catalogSource(100, false).source);
    expect((await index.query({ q: "renamed", ...page })).total).toBe(1);
    expect((await index.query({ brand: ["Bose"], ...page })).total).toBe(0);
    expect(await index.count()).toBe(11);
  });

  it("stops on a cursor that repeats", async () => {
    const source = {
      exportPage: async () => ({ items: [CATALOG[0]], nextCursor: "same" }),
      stockLevels: async () => [],
    };
    await expect(rebuildIndex(new MiniSearchIndex(), source)).rejects.toThrow(/twice/);
  });
});

describe("RebuildRunner", () => {
  it("runs one rebuild at a time and remembers how the last one went", async () => {
    const runner = new RebuildRunner();
    expect(runner.status).toEqual({ state: "never" });
    let finish!: () => void;
    const run = jest.fn(
      () =>
        new Promise<{ indexed: number; tookMs: number }>((resolve) => {
          finish = () => resolve({ indexed: 3, tookMs: 7 });
        }),
    );
    const first = runner.start(run);
    const second = runner.start(run);
    expect(run).toHaveBeenCalledTimes(1);
    expect(runner.status.state).toBe("running");
    finish();
    await expect(Promise.all([first, second])).resolves.toEqual([
      { indexed: 3, tookMs: 7 },
      { indexed: 3, tookMs: 7 },
    ]);
    expect(runner.status).toMatchObject({ state: "done", indexed: 3, tookMs: 7 });

    await expect(runner.start(() => Promise.reject(new Error("catalog down")))).rejects.toThrow();
    expect(runner.status).toMatchObject({ state: "failed", error: "catalog down" });
    expect(runner.isRunning).toBe(false);
  });
});

describe("search parameters", () => {
  it("takes lists as repeated values or commas, without blanks or repeats", () => {
    expect(toSearchQuery({ brand: ["Sony", "Bose, JBL", "Sony", " "] }).brand).toEqual([
      "Sony",
      "Bose",
      "JBL",
    ]);
    expect(toSearchQuery({ attr: { color: "red,blue", size: [] } }).attributes).toEqual({
      color: ["red", "blue"],
    });
  });

  it("defaults the page and leaves absent filters out", () => {
    expect(toSearchQuery({})).toEqual({ page: 1, pageSize: 20 });
    expect(toSearchQuery({ q: "", inStock: false, minPrice: 0 })).toEqual({
      page: 1,
      pageSize: 20,
      inStock: false,
      minPrice: 0,
    });
  });

  it("refuses a minimum price above the maximum", () => {
    const attempt = () => toSearchQuery({ minPrice: 5000, maxPrice: 1000 });
    expect(attempt).toThrow(AppError);
    expect(attempt).toThrow("minPrice must not be above maxPrice");
  });
});
