import { signAccessToken } from "../../lib/auth/jwt";
import { infrastructureOf } from "../../lib/infra";
import CatalogService from "../../services/catalog/catalog.service";
import type { SearchResult, Suggestion } from "../../services/search/index-port";
import InventoryService from "../../services/inventory/inventory.service";
import SearchService from "../../services/search/search.service";
import { channelsEnv, cleanUpChannels } from "../helpers/channels";
import { Platform, startPlatform, withRealServers } from "../helpers/platform";
import { adaptersFor, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * Search end to end with the real catalog and inventory: products are made
 * through the admin API, reach the index through `product.events` (the
 * catalog's and inventory's outboxes), and are found over HTTP. Embedded
 * (SQLite, in-process channels), and on MariaDB + Redis with Redis Streams
 * channels when TEST_MYSQL_URL and TEST_REDIS_URL are set.
 */
const available = adaptersFor("mysql", "redis");
const modes =
  available.includes("mysql") && available.includes("redis")
    ? ["embedded", "mariadb+redis"]
    : ["embedded"];

/** How soon a change must be searchable ("about a second"). */
const SEARCHABLE_WITHIN_MS = 1500;

interface Product {
  id: string;
  name: string;
  slug: string;
  version: number;
}
interface Category {
  id: string;
  name: string;
}

describe.each(modes)("search end to end (%s)", (mode) => {
  const channelsPrefix = uniqueName("search");
  const real = mode === "embedded" ? undefined : withRealServers("mysql", "redis");
  let platform: Platform;
  let api: Platform["request"];
  let admin: string;
  const categories: Record<string, Category> = {};
  const products: Record<string, Product> = {};

  const search = async (query: string) => {
    const res = await api<SearchResult>("GET", `/search${query}`);
    expect(res.status).toBe(200);
    return res.body;
  };
  const idsOf = (r: SearchResult) => r.items.map((i) => i.id);
  const namesOf = (r: SearchResult) => r.items.map((i) => i.name);

  async function newCategory(key: string, name: string, parent?: string) {
    const res = await api<Category>("POST", "/categories", {
      token: admin,
      body: { name, ...(parent ? { parentId: categories[parent].id } : {}) },
    });
    expect(res.status).toBe(201);
    categories[key] = res.body;
  }

  async function newProduct(
    key: string,
    fields: {
      name: string;
      brand: string;
      category: string;
      amount: number;
      description?: string;
      attributes?: Record<string, string>;
      status?: string;
    },
  ): Promise<Product> {
    const res = await api<Product>("POST", "/products", {
      token: admin,
      body: {
        sku: uniqueName("SKU").replace(/_/g, "-"),
        name: fields.name,
        description: fields.description ?? `${fields.name} from ${fields.brand}.`,
        brand: fields.brand,
        categoryId: categories[fields.category].id,
        price: { amount: fields.amount, currency: "USD" },
        attributes: fields.attributes ?? {},
        status: fields.status ?? "active",
      },
    });
    expect(res.status).toBe(201);
    products[key] = res.body;
    return res.body;
  }

  async function setStock(key: string, onHand: number) {
    const res = await api("PUT", `/products/${products[key].id}/stock`, {
      token: admin,
      body: { onHand },
    });
    expect(res.status).toBe(200);
  }

  /** Waits (at most SEARCHABLE_WITHIN_MS) until the predicate holds; returns how long it took. */
  async function searchable(predicate: () => Promise<boolean>): Promise<number> {
    const started = Date.now();
    await waitFor(predicate, { timeoutMs: SEARCHABLE_WITHIN_MS, intervalMs: 20 });
    return Date.now() - started;
  }

  beforeAll(async () => {
    platform = await startPlatform({
      services: [CatalogService, InventoryService, SearchService],
      env: {
        RATE_LIMIT_MAX: "0",
        ...channelsEnv(mode === "embedded" ? "embedded" : "redis", channelsPrefix),
        ...real?.env,
      },
    });
    api = platform.request;
    const infra = infrastructureOf(platform.broker);
    admin = signAccessToken(
      { sub: "search-e2e-admin", role: "admin" },
      infra.signingKeys().privateKey!,
      { issuer: infra.config.jwtIssuer, audience: infra.config.jwtAudience, ttlSec: 900 },
    );

    await newCategory("electronics", "Electronics");
    await newCategory("audio", "Audio", "electronics");
    await newCategory("headphones", "Headphones", "audio");
    await newCategory("speakers", "Speakers", "audio");
    await newCategory("home", "Home");
    await newCategory("kitchen", "Kitchen", "home");

    await newProduct("sony", {
      name: "Sony WH-1000XM5 Wireless Headphones",
      brand: "Sony",
      category: "headphones",
      amount: 34999,
      description: "Industry-leading noise cancelling over-ear headphones, 30-hour battery.",
      attributes: { color: "black" },
    });
    await newProduct("bose", {
      name: "Bose QuietComfort Ultra Headphones",
      brand: "Bose",
      category: "headphones",
      amount: 42900,
      description: "World-class noise cancellation in a comfortable fit.",
      attributes: { color: "white" },
    });
    await newProduct("jbl", {
      name: "JBL Flip 6 Portable Speaker",
      brand: "JBL",
      category: "speakers",
      amount: 12999,
      description: "Waterproof bluetooth speaker with bold sound.",
      attributes: { color: "blue" },
    });
    await newProduct("stand", {
      name: "Headphone Stand",
      brand: "Grovemade",
      category: "audio",
      amount: 2400,
      description: "Keeps your headphones tidy. <b>Solid walnut</b> & aluminium.",
      attributes: { color: "brown" },
    });
    await newProduct("espresso", {
      name: "Breville Barista Express Espresso Machine",
      brand: "Breville",
      category: "kitchen",
      amount: 69995,
      description: "Grind, dose and pull café-quality espresso at home.",
      attributes: { color: "silver" },
    });
    await newProduct("mixer", {
      name: "KitchenAid Artisan Stand Mixer",
      brand: "KitchenAid",
      category: "kitchen",
      amount: 44999,
      description: "Tilt-head stand mixer with a 5-quart bowl.",
      attributes: { color: "red" },
    });
    for (const [key, onHand] of Object.entries({ sony: 12, bose: 4, jbl: 20, stand: 30 }))
      await setStock(key, onHand);
    // The mixer never had stock; the espresso machine gets some below.
    await waitFor(async () => (await search("?inStock=true")).total === 4, { timeoutMs: 5000 });
  });

  afterAll(async () => {
    await platform?.stop();
    await real?.cleanup();
    if (real) await cleanUpChannels("redis", channelsPrefix);
  });

  it("makes a new product searchable within about a second", async () => {
    const marshall = await newProduct("marshall", {
      name: "Marshall Emberton II Speaker",
      brand: "Marshall",
      category: "speakers",
      amount: 16999,
      attributes: { color: "black" },
    });
    const took = await searchable(async () =>
      idsOf(await search("?q=emberton")).includes(marshall.id),
    );
    expect(took).toBeLessThan(SEARCHABLE_WITHIN_MS);
  });

  it("ranks and filters a realistic catalog", async () => {
    const typo = idsOf(await search("?q=hedphones"));
    expect(typo.slice(0, 3)).toEqual(expect.arrayContaining([products.sony.id, products.bose.id]));
    expect(idsOf(await search("?q=sony%20headphones"))).toEqual([products.sony.id]);
    expect(idsOf(await search("?q=headphone"))[0]).toBe(products.stand.id);
    expect(idsOf(await search("?q=espres"))).toEqual([products.espresso.id]);

    // A category matches its descendants.
    const audio = await search(`?category=${categories.audio.id}&sort=price`);
    expect(audio.items[0].id).toBe(products.stand.id);
    expect(audio.total).toBeGreaterThanOrEqual(4);
    expect((await search(`?category=${categories.headphones.id}`)).total).toBe(2);
    expect(
      (await search(`?category=${categories.electronics.id}`)).facets.category.map((c) => c.label),
    ).toEqual(expect.arrayContaining(["Headphones", "Speakers", "Audio"]));

    const kitchen = await search(`?category=${categories.kitchen.id}&minPrice=40000`);
    expect(kitchen.facets.brand).toEqual([
      { value: "Breville", count: 1 },
      { value: "KitchenAid", count: 1 },
    ]);
    expect(kitchen.facets.price.find((b) => b.from === 25000)?.count).toBe(1);
    expect(kitchen.facets.price.find((b) => b.from === 50000)?.count).toBe(1);
    expect(kitchen.facets.attributes.color).toEqual([
      { value: "red", count: 1 },
      { value: "silver", count: 1 },
    ]);
    expect(idsOf(await search("?brand=Sony&brand=Bose&sort=-price"))).toEqual([
      products.bose.id,
      products.sony.id,
    ]);
    expect(idsOf(await search("?attr[color]=red"))).toEqual([products.mixer.id]);

    const [stand] = (await search("?q=walnut")).items;
    expect(stand.highlight.description).toContain("&lt;b&gt;Solid <em>walnut</em>");
  });

  it("follows a rename: the new name is found and the old one is not", async () => {
    const res = await api<Product>("PATCH", `/products/${products.jbl.id}`, {
      token: admin,
      body: { name: "JBL Charge 5 Speaker" },
    });
    expect(res.status).toBe(200);
    await searchable(async () => (await search("?q=charge")).total === 1);
    expect((await search("?q=flip")).total).toBe(0);
    expect(namesOf(await search(`?brand=JBL`))).toEqual(["JBL Charge 5 Speaker"]);
  });

  it("follows stock: sold out is found with inStock=false, restocked with inStock=true", async () => {
    await setStock("bose", 0);
    await searchable(async () =>
      idsOf(await search("?inStock=false&q=headphones")).includes(products.bose.id),
    );
    expect(idsOf(await search("?inStock=true&q=headphones"))).not.toContain(products.bose.id);
    const [bose] = (await search("?q=quietcomfort")).items;
    expect(bose).toMatchObject({ available: 0, inStock: false });

    await setStock("espresso", 3);
    await searchable(async () =>
      idsOf(await search("?inStock=true")).includes(products.espresso.id),
    );
  });

  it("drops an archived product from results and suggestions", async () => {
    expect((await search("?q=mixer")).total).toBe(1);
    const res = await api("DELETE", `/products/${products.mixer.id}`, { token: admin });
    expect(res.status).toBe(204);
    await searchable(async () => (await search("?q=mixer")).total === 0);
    const suggest = await api<{ suggestions: Suggestion[] }>("GET", "/search/suggest?q=kitchen");
    expect(suggest.body.suggestions).toEqual([]);
  });

  it("indexes a draft only once it is published", async () => {
    const draft = await newProduct("draft", {
      name: "Technics SL-1500C Turntable",
      brand: "Technics",
      category: "audio",
      amount: 109900,
      status: "draft",
    });
    const publish = await api("PATCH", `/products/${draft.id}`, {
      token: admin,
      body: { status: "active" },
    });
    expect(publish.status).toBe(200);
    await searchable(async () => idsOf(await search("?q=turntable")).includes(draft.id));
  });

  it("suggests product names as the shopper types", async () => {
    const res = await api<{ suggestions: Suggestion[] }>("GET", "/search/suggest?q=head&limit=5");
    expect(res.status).toBe(200);
    expect(res.body.suggestions.map((s) => s.text)).toEqual(
      expect.arrayContaining([
        "Headphone Stand",
        "Sony WH-1000XM5 Wireless Headphones",
        "Bose QuietComfort Ultra Headphones",
      ]),
    );
    expect(res.body.suggestions[0]).toEqual({
      text: "Headphone Stand",
      productId: products.stand.id,
      slug: products.stand.slug,
    });
  });

  it("rebuilds from the catalog and inventory after the index was cleared", async () => {
    const before = await search("?pageSize=100&sort=name");
    const service = platform.broker.getLocalService("search") as unknown as {
      index: { clear(): Promise<void> };
    };
    await service.index.clear();
    expect((await search("")).total).toBe(0);

    const res = await api<{ indexed: number; tookMs: number }>("POST", "/search/rebuild", {
      token: admin,
      body: {},
    });
    expect(res.status).toBe(200);
    expect(res.body.indexed).toBe(before.total);
    const after = await search("?pageSize=100&sort=name");
    expect(after.items).toEqual(before.items);
    expect(after.facets).toEqual(before.facets);
    expect(idsOf(await search("?inStock=false"))).toContain(products.bose.id);
  });
});
