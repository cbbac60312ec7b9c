import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { signAccessToken } from "../../lib/auth/jwt";
import type { ProductSnapshot } from "../../lib/contracts/catalog";
import { infrastructureOf } from "../../lib/infra";
import { createEnvelope, headersFor } from "../../lib/messaging/envelope";
import { EventTypes, Topics } from "../../lib/messaging/topics";
import { IMPORT_BATCH_MAX } from "../../services/catalog/catalog.params";
import CatalogService from "../../services/catalog/catalog.service";
import { MAX_LEVELS_PER_CALL } from "../../services/inventory/inventory.params";
import InventoryService from "../../services/inventory/inventory.service";
import type { SearchResult, Suggestion } from "../../services/search/index-port";
import SearchService from "../../services/search/search.service";
import { ChannelsAdapterName, channelsEnv, cleanUpChannels } from "../helpers/channels";
import { Platform, startPlatform } from "../helpers/platform";
import {
  CATALOG,
  CATEGORY_TREE,
  fixtureIdOfSku,
  generatedCatalog,
  productInput,
  STOCK,
} from "../helpers/search-fixtures";
import { adaptersFor, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The search service in a real broker behind the real gateway, with the real
 * catalog and inventory beside it: start-up rebuild, indexing from
 * `product.events` (in-process channels, and Redis Streams when
 * TEST_REDIS_URL is set), HTTP parameters and errors, the operator actions.
 * Relational data is SQLite; test/e2e/search.test.ts also runs on MariaDB.
 *
 * The fixture catalog (test/helpers/search-fixtures.ts) is loaded through
 * the catalog's and inventory's own APIs by a node of its own that is stopped
 * once both outboxes are empty; the node under test then opens the same
 * database files. So the search index has never heard of those products and
 * only its start-up rebuild (catalog.export + inventory.levels) can fill it.
 * The catalog gives products ids of its own: tests name them by fixture id
 * (p01…), found again through the SKU.
 */

interface ErrorBody {
  error: { type: string; code: number; details: { field?: string }[] };
}

interface SearchStatus {
  adapter: string;
  documents: number;
  channelGroup: string;
  lastEvent: { productId: string; type: string; outcome: string } | null;
  rebuild: { state: string; indexed?: number };
}

/** The fixture data as the real catalog holds it: products by fixture id, category ids by key. */
interface Seeded {
  products: Record<string, ProductSnapshot>;
  categories: Record<string, string>;
  /** Products given units on hand. */
  inStock: number;
}

/** Products per catalog.export page when search rebuilds (its EXPORT_PAGE_SIZE). */
const EXPORT_PAGE_SIZE = 1000;
/** Units on hand of each generated product on the export's last page (the others have none). */
const GENERATED_ON_HAND = 5;

function adminToken(platform: Platform): string {
  const infra = infrastructureOf(platform.broker);
  const { jwtIssuer: issuer, jwtAudience: audience } = infra.config;
  return signAccessToken({ sub: "operator", role: "admin" }, infra.signingKeys().privateKey!, {
    issuer,
    audience,
    ttlSec: 300,
  });
}

/** Pages through the real catalog.export as search does: every product, any status. */
async function exportPages(platform: Platform): Promise<ProductSnapshot[][]> {
  const pages: ProductSnapshot[][] = [];
  let cursor: string | undefined;
  do {
    const page = await platform.broker.call<
      { items: ProductSnapshot[]; nextCursor: string | null },
      object
    >("catalog.export", { limit: EXPORT_PAGE_SIZE, ...(cursor ? { cursor } : {}) });
    pages.push(page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return pages;
}

/**
 * Loads the fixture catalog (plus `generated` products, in one category of
 * their own) into SQLite files under `storage` through the real services:
 * categories with POST /categories, products with catalog.importProducts,
 * stock with inventory.setStockBulk. Returns once the node that did it has
 * published every outbox message and stopped. Of the generated products only
 * those on the export's last page get stock (GENERATED_ON_HAND): enough to
 * tell whether a rebuild asked inventory about every page, while the seed
 * stays quick (each message takes the outbox relay a few milliseconds).
 */
async function seedCatalog(storage: string, generated = 0): Promise<Seeded> {
  const platform = await startPlatform({
    services: [CatalogService, InventoryService],
    env: { RATE_LIMIT_MAX: "0", SQLITE_STORAGE: storage },
  });
  try {
    const token = adminToken(platform);
    const categories: Record<string, string> = {};
    const tree = [
      ...CATEGORY_TREE,
      ...(generated ? [{ key: "generated", name: "Generated" }] : []),
    ];
    for (const { key, name, parent } of tree) {
      const res = await platform.request<{ id: string }>("POST", "/categories", {
        token,
        body: { name, slug: key, ...(parent ? { parentId: categories[parent] } : {}) },
      });
      expect(res.status).toBe(201);
      categories[key] = res.body.id;
    }

    const inputs = [
      ...CATALOG.map((p) => productInput(p, categories[p.categoryId])),
      ...generatedCatalog(generated).docs.map((d) => productInput(d, categories.generated)),
    ];
    for (let i = 0; i < inputs.length; i += IMPORT_BATCH_MAX) {
      const products = inputs.slice(i, i + IMPORT_BATCH_MAX);
      const res = await platform.broker.call<{ created: number }, object>(
        "catalog.importProducts",
        { products },
        { timeout: 60_000 },
      );
      expect(res.created).toBe(products.length);
    }

    const pages = await exportPages(platform);
    const products: Record<string, ProductSnapshot> = {};
    for (const p of pages.flat()) products[fixtureIdOfSku(p.sku)!] = p;
    expect(Object.keys(products)).toHaveLength(inputs.length);
    const levels = [
      ...STOCK.map((s) => ({ productId: products[s.productId].id, onHand: s.onHand })),
      ...(pages.length > 1 ? pages[pages.length - 1] : [])
        .filter((p) => !CATALOG.some((f) => f.sku === p.sku))
        .map((p) => ({ productId: p.id, onHand: GENERATED_ON_HAND })),
    ];
    for (let i = 0; i < levels.length; i += MAX_LEVELS_PER_CALL) {
      await platform.broker.call(
        "inventory.setStockBulk",
        { levels: levels.slice(i, i + MAX_LEVELS_PER_CALL) },
        { timeout: 60_000 },
      );
    }

    // Nothing about these products may be left to publish when the next node opens the files.
    await waitFor(
      async () => {
        for (const service of ["catalog", "inventory"]) {
          const status = await platform.broker.call<{ unpublished: number }>(
            `${service}.outboxStatus`,
          );
          if (status.unpublished) return false;
        }
        return true;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    return { products, categories, inStock: levels.filter((l) => l.onHand > 0).length };
  } finally {
    await platform.stop();
  }
}

/** A directory for a node's SQLite files; in memory where Linux offers it (the seed writes a lot). */
function temporaryStorage(): string {
  const base = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
  return fs.mkdtempSync(path.join(base, "search-service-"));
}

describe.each(adaptersFor("redis"))("search service (channels: %s)", (adapter) => {
  const prefix = uniqueName("search");
  let storage: string;
  let seeded: Seeded;
  let platform: Platform;
  let api: Platform["request"];
  let admin: string;

  const search = async (query: string) => {
    const res = await api<SearchResult>("GET", `/search${query}`);
    expect(res.status).toBe(200);
    return res.body;
  };
  /** The real product of a fixture id (p01…), as loaded. */
  const product = (fixtureId: string) => seeded.products[fixtureId];
  const categoryId = (key: string) => seeded.categories[key];
  /** Results named by fixture id. */
  const fixtureIdsOf = (r: SearchResult) =>
    r.items.map(
      (i) => Object.keys(seeded.products).find((k) => seeded.products[k].id === i.id) ?? i.id,
    );
  const status = () => platform.broker.call<SearchStatus>("search.status");

  /**
   * Delivers, late, a ProductUpdated for `snapshot` on product.events, as the
   * catalog sends it: what a redelivery after newer messages looks like (the
   * real services never send an old version on demand, so the test does).
   */
  async function deliverLate(snapshot: ProductSnapshot) {
    const envelope = createEnvelope({
      type: EventTypes.ProductUpdated,
      aggregateId: snapshot.id,
      payload: snapshot,
    });
    const headers = headersFor(envelope, { source: "catalog" });
    await platform.broker.sendToChannel(Topics.ProductEvents, envelope, {
      headers: { ...headers } as Record<string, string>,
      key: snapshot.id,
    });
  }

  beforeAll(async () => {
    storage = temporaryStorage();
    seeded = await seedCatalog(storage);
    platform = await startPlatform({
      services: [CatalogService, InventoryService, SearchService],
      env: {
        RATE_LIMIT_MAX: "0",
        SQLITE_STORAGE: storage,
        ...channelsEnv(adapter as ChannelsAdapterName, prefix),
      },
    });
    api = platform.request;
    admin = adminToken(platform);
    // The start-up rebuild runs in the background; each page is indexed with its stock.
    await waitFor(async () => (await status()).rebuild.state === "done", { timeoutMs: 10_000 });
  });

  afterAll(async () => {
    await platform?.stop();
    await cleanUpChannels(adapter as ChannelsAdapterName, prefix);
    if (storage) fs.rmSync(storage, { recursive: true, force: true });
  });

  it("rebuilds from the catalog at start: everything active, with stock and facets", async () => {
    const all = await search("?pageSize=100");
    expect(all.total).toBe(12);
    expect(all.facets.brand).toHaveLength(12);
    expect((await search("?inStock=false")).total).toBe(3);
    expect(all.items.find((i) => i.id === product("p01").id)).toMatchObject({
      available: 12,
      inStock: true,
    });
    // The rebuild, not product.events: no event about these products ever reached search.
    expect(await status()).toMatchObject({
      lastEvent: null,
      rebuild: { state: "done", indexed: 12 },
    });
  });

  it("answers typo'd text with ranked, highlighted hits and facets", async () => {
    const result = await search(`?q=hedphones&category=${categoryId("audio")}&sort=relevance`);
    expect(fixtureIdsOf(result).slice(0, 3)).toEqual(expect.arrayContaining(["p01", "p02"]));
    expect(result.items.find((i) => i.id === product("p02").id)?.highlight.name).toBe(
      "Bose QuietComfort Ultra <em>Headphones</em>",
    );
    expect(result.facets.category.map((c) => c.value)).toContain(categoryId("headphones"));
  });

  it("takes lists, bounds, stock and attribute filters from the query string", async () => {
    expect(fixtureIdsOf(await search("?brand=Sony&brand=Bose")).sort()).toEqual(["p01", "p02"]);
    expect(fixtureIdsOf(await search("?brand=Sony,Bose")).sort()).toEqual(["p01", "p02"]);
    expect((await search("?minPrice=20000&maxPrice=44999")).total).toBe(5);
    expect(fixtureIdsOf(await search("?attr[color]=red&sort=price"))).toEqual(["p10", "p09"]);
    expect(
      fixtureIdsOf(await search("?attr[color]=red&attr[color]=blue&inStock=true")).sort(),
    ).toEqual(["p04", "p09", "p10"]);
    const paged = await search("?sort=price&page=2&pageSize=5");
    expect(paged).toMatchObject({ page: 2, pageSize: 5, total: 12 });
    expect(paged.items).toHaveLength(5);
  });

  it.each([
    ["pageSize above 100", "?pageSize=101", "pageSize"],
    ["page beyond 100", "?page=101", "page"],
    ["a price that is not a number", "?minPrice=cheap", "minPrice"],
    ["a negative price", "?maxPrice=-1", "maxPrice"],
    ["minPrice above maxPrice", "?minPrice=5000&maxPrice=100", "maxPrice"],
    ["an unknown sort", "?sort=popularity", "sort"],
    ["an unknown parameter", "?color=red", "color"],
    ["a bad inStock", "?inStock=maybe", "inStock"],
    ["a query too long", `?q=${"a".repeat(201)}`, "q"],
  ])("answers 400 to %s", async (_what, query, field) => {
    const res = await api<ErrorBody>("GET", `/search${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe("VALIDATION");
    expect(res.body.error.details.map((d) => d.field)).toContain(field);
  });

  it("suggests product names, and wants something to complete", async () => {
    const res = await api<{ suggestions: Suggestion[] }>(
      "GET",
      "/search/suggest?q=sony%20wh&limit=3",
    );
    expect(res.status).toBe(200);
    const sony = product("p01");
    expect(res.body.suggestions).toEqual([
      { text: "Sony WH-1000XM5 Wireless Headphones", productId: sony.id, slug: sony.slug },
    ]);
    expect((await api("GET", "/search/suggest")).status).toBe(400);
    expect((await api("GET", "/search/suggest?q=he&limit=50")).status).toBe(400);
  });

  it("applies product.events within a second: update, stock, archive", async () => {
    const started = Date.now();
    const renamed = await api("PATCH", `/products/${product("p05").id}`, {
      token: admin,
      body: { name: "Sonos Era 300 Atmos Speaker" },
    });
    expect(renamed.status).toBe(200);
    await waitFor(async () => (await search("?q=atmos")).total === 1, { timeoutMs: 3000 });
    const took = Date.now() - started;
    expect((await search("?q=sonos")).items.map((i) => i.name)).toEqual([
      "Sonos Era 300 Atmos Speaker",
    ]);

    const stock = await api("PUT", `/products/${product("p04").id}/stock`, {
      token: admin,
      body: { onHand: 0 },
    });
    expect(stock.status).toBe(200);
    await waitFor(async () => fixtureIdsOf(await search("?inStock=false")).includes("p04"), {
      timeoutMs: 3000,
    });

    const archived = await api("DELETE", `/products/${product("p06").id}`, { token: admin });
    expect(archived.status).toBe(204);
    await waitFor(async () => (await search("?q=xps")).total === 0, { timeoutMs: 3000 });

    // An older update delivered late (the catalog's version 1 of each, as loaded) changes nothing.
    await deliverLate(product("p06"));
    await deliverLate(product("p05"));
    await waitFor(async () => (await status()).lastEvent?.productId === product("p05").id);
    expect((await status()).lastEvent).toMatchObject({ outcome: "ignored" });
    expect((await search("?q=xps")).total).toBe(0);
    expect((await search("?q=atmos")).total).toBe(1);
    // "Within about a second" of the admin's request, with room for a loaded CI machine.
    if (adapter === "embedded") expect(took).toBeLessThan(1500);
  });

  it("tells operators the adapter, size, lag and last rebuild", async () => {
    expect(await status()).toMatchObject({
      adapter: "minisearch",
      documents: expect.any(Number),
      channelGroup: adapter === "embedded" ? "search" : expect.stringMatching(/^search-/),
      rebuild: { state: "done", indexed: 12 },
    });
    const res = await api("GET", "/search/status");
    expect(res.status).toBe(401);
  });

  it("rebuilds on an admin's request, restoring a cleared index", async () => {
    expect((await api("POST", "/search/rebuild")).status).toBe(401);
    const before = await search("?pageSize=100&sort=name");
    const search_ = platform.broker.getLocalService("search") as unknown as {
      index: { clear(): Promise<void> };
    };
    await search_.index.clear();
    expect((await search("")).total).toBe(0);
    const res = await api<{ indexed: number; tookMs: number }>("POST", "/search/rebuild", {
      token: admin,
      body: {},
    });
    expect(res.status).toBe(200);
    // The catalog and inventory now hold what the events said: p06 archived, p05 renamed, p04 sold out.
    expect(res.body).toEqual({ indexed: 11, tookMs: expect.any(Number) });
    const after = await search("?pageSize=100&sort=name");
    expect(after.items).toEqual(before.items);
    expect(after.facets).toEqual(before.facets);
    expect((await search("?q=atmos")).total).toBe(1);
    expect(fixtureIdsOf(await search("?inStock=false"))).toContain("p04");
  });

  it("documents its routes in the OpenAPI document", async () => {
    const res = await api<{ paths: Record<string, Record<string, { parameters?: unknown[] }>> }>(
      "GET",
      "/openapi.json",
    );
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining(["/search", "/search/suggest", "/search/rebuild", "/search/status"]),
    );
    expect(res.body.paths["/search"].get).toBeDefined();
  });

  it("reports the search port in readiness", async () => {
    const res = await api<{ ports: { port: string; adapter: string; ok: boolean }[] }>(
      "GET",
      "/health/ready",
    );
    expect(res.body.ports).toContainEqual({ port: "search", adapter: "minisearch", ok: true });
  });
});

describe("search service without its neighbours", () => {
  // One more export page than the fixtures need: search reads the catalog EXPORT_PAGE_SIZE at a time.
  const GENERATED = EXPORT_PAGE_SIZE;
  const total = CATALOG.length + GENERATED;
  let storage: string;
  let seeded: Seeded;
  beforeAll(async () => {
    storage = temporaryStorage();
    seeded = await seedCatalog(storage, GENERATED);
  });
  afterAll(() => {
    if (storage) fs.rmSync(storage, { recursive: true, force: true });
  });

  it("starts and answers from an empty index, then rebuilds once they appear", async () => {
    const platform = await startPlatform({
      services: [SearchService],
      env: { SQLITE_STORAGE: storage },
    });
    try {
      const empty = await platform.request<SearchResult>("GET", "/search?q=headphones");
      expect(empty.status).toBe(200);
      expect(empty.body.total).toBe(0);
      // The catalog and inventory come up on this node, over the database the seed filled.
      platform.broker.createService(CatalogService);
      platform.broker.createService(InventoryService);
      await waitFor(
        async () => (await platform.request<SearchResult>("GET", "/search")).body.total === total,
        { timeoutMs: 15_000, intervalMs: 100 },
      );
      // Every export page was read (the real catalog's cursors followed), by the rebuild alone.
      const status = await platform.broker.call<SearchStatus>("search.status");
      expect(status).toMatchObject({ lastEvent: null, rebuild: { state: "done", indexed: total } });
      // Stock came with every page: the last page's generated products are the only ones in stock
      // beyond the fixtures' nine.
      expect(seeded.inStock).toBeGreaterThan(9);
      const available = await platform.request<SearchResult>("GET", "/search?inStock=true");
      expect(available.body.total).toBe(seeded.inStock);
    } finally {
      await platform.stop();
    }
  });
});
