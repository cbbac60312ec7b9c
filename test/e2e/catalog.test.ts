import { randomBytes, randomUUID } from "node:crypto";
import type { ServiceSchema } from "moleculer";
import type {
  ProductArchivedPayload,
  ProductSnapshot,
  StockChangedPayload,
} from "../../lib/contracts/catalog";
import { infrastructureOf } from "../../lib/infra";
import { durableChannel } from "../../lib/messaging/channel";
import { createEnvelope, headersFor, MessageEnvelope } from "../../lib/messaging/envelope";
import { EventTypes, Topics } from "../../lib/messaging/topics";
import CatalogService from "../../services/catalog/catalog.service";
import UsersService from "../../services/users/users.service";
import { cleanUpChannels } from "../helpers/channels";
import {
  Platform,
  PlatformResponse,
  accessTokenFor,
  newCustomerToken,
  startPlatform,
  withRealServers,
} from "../helpers/platform";
import { adaptersFor, servers, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The catalog end to end: real broker, real HTTP through the gateway, real
 * database and cache — embedded (SQLite, memory cacher, in-process channels),
 * and MariaDB + Redis (Redis cacher, Redis Streams channels) when
 * TEST_MYSQL_URL and TEST_REDIS_URL are set. Every test makes its own
 * categories and products (unique slugs, SKUs and brands) and filters the
 * public list by them, so tests never see each other's data. Messages on
 * product.events are read by a test consumer group, as search will read
 * them; stock levels arrive as StockChanged messages published here the way
 * inventory publishes them.
 */
const available = adaptersFor("mysql", "redis");
const modes =
  available.includes("mysql") && available.includes("redis")
    ? ["embedded", "mariadb+redis"]
    : ["embedded"];

interface ErrorBody {
  error: { type: string; message: string; code: number; details: { field?: string }[] };
}
interface Category {
  id: string;
  parentId: string | null;
  slug: string;
  name: string;
  position: number;
  children: Category[];
  path?: { id: string; slug: string; name: string }[];
}
interface Product extends ProductSnapshot {
  availability: { available: number; inStock: boolean };
}
interface Page<T> {
  items: T[];
  page: number;
  pageSize: number;
  total: number;
}

const PASSWORD = "correct horse battery staple";

function productEventsProbe(): { service: ServiceSchema; received: MessageEnvelope[] } {
  const received: MessageEnvelope[] = [];
  const service: ServiceSchema = {
    name: "product-events-probe",
    channels: {
      [Topics.ProductEvents]: durableChannel(Topics.ProductEvents, {
        group: "catalog-e2e-probe",
        handler(envelope) {
          received.push(envelope);
        },
      }),
    },
  };
  return { service, received };
}

const fieldsOf = (res: PlatformResponse) =>
  (res.body as ErrorBody).error.details.map((d) => d.field);

describe.each(modes)("catalog end to end (%s)", (mode) => {
  const adminEmail = `${uniqueName("admin")}@example.com`;
  const adminPassword = randomBytes(18).toString("base64url");
  const channelsPrefix = uniqueName("catalog");
  const real = mode === "embedded" ? undefined : withRealServers("mysql", "redis");
  const probe = productEventsProbe();
  let platform: Platform;
  let api: Platform["request"];
  let admin: string;
  let customer: string;

  beforeAll(async () => {
    platform = await startPlatform({
      services: [UsersService, CatalogService, probe.service],
      env: {
        RATE_LIMIT_MAX: "0",
        AUTH_RATE_LIMIT_MAX: "0",
        ADMIN_EMAIL: adminEmail,
        ADMIN_PASSWORD: adminPassword,
        CHANNELS_PREFIX: channelsPrefix,
        ...(real ? { ...real.env, CHANNELS_URL: servers.redis! } : {}),
      },
    });
    api = platform.request;
    admin = await login(adminEmail, adminPassword);
    customer = await newCustomerToken(platform, PASSWORD);
  });

  afterAll(async () => {
    await platform?.stop();
    await real?.cleanup();
    if (real) await cleanUpChannels("redis", channelsPrefix);
  });

  const login = (email: string, password: string) => accessTokenFor(platform, email, password);

  async function newCategory(body: Record<string, unknown> = {}): Promise<Category> {
    const res = await api<Category>("POST", "/categories", {
      token: admin,
      body: { name: `Category ${uniqueName("c")}`, ...body },
    });
    expect(res.status).toBe(201);
    return res.body;
  }

  function productBody(categoryId: string, overrides: Record<string, unknown> = {}) {
    return {
      sku: uniqueName("SKU").replace(/_/g, "-"),
      name: `Product ${uniqueName("p")}`,
      description: "A fine product.",
      brand: "Acme",
      categoryId,
      price: { amount: 1999, currency: "EUR" },
      attributes: { color: "blue" },
      images: ["https://example.com/images/1.jpg"],
      status: "active",
      ...overrides,
    };
  }

  async function newProduct(
    categoryId: string,
    overrides: Record<string, unknown> = {},
  ): Promise<Product> {
    const res = await api<Product>("POST", "/products", {
      token: admin,
      body: productBody(categoryId, overrides),
    });
    expect(res.status).toBe(201);
    return res.body;
  }

  /** Publishes a stock level on product.events the way inventory does. */
  async function publishStock(productId: string, available: number, version: number) {
    const payload: StockChangedPayload = {
      productId,
      onHand: available,
      reserved: 0,
      available,
      version,
    };
    const envelope = createEnvelope({
      type: EventTypes.StockChanged,
      aggregateId: productId,
      payload,
    });
    await platform.broker.sendToChannel(Topics.ProductEvents, envelope, {
      key: productId,
      headers: { ...headersFor(envelope, { source: "inventory" }) },
    });
  }

  const list = (query: string) => api<Page<Product>>("GET", `/products?${query}`);
  const skusOf = (page: PlatformResponse<Page<Product>>) => page.body.items.map((p) => p.sku);
  const eventsOf = (productId: string) => probe.received.filter((m) => m.aggregateId === productId);

  describe("admin product CRUD", () => {
    it("creates (201 + Location), reads, updates and archives a product", async () => {
      const category = await newCategory();
      const body = productBody(category.id, { name: "Crème Brûlée Torch 3000" });
      const created = await api<Product>("POST", "/products", { token: admin, body });
      expect(created.status).toBe(201);
      expect(created.headers.location).toBe(`/api/v1/products/${created.body.id}`);
      expect(created.body).toMatchObject({
        sku: body.sku.toUpperCase(),
        slug: "creme-brulee-torch-3000",
        name: "Crème Brûlée Torch 3000",
        brand: "Acme",
        categoryId: category.id,
        categoryPath: [category.id],
        categoryName: category.name,
        price: { amount: 1999, currency: "EUR" },
        attributes: { color: "blue" },
        images: ["https://example.com/images/1.jpg"],
        status: "active",
        version: 1,
        availability: { available: 0, inStock: false },
      });

      const read = await api<Product>("GET", created.headers.location.replace("/api/v1", ""));
      expect(read.status).toBe(200);
      expect(read.body.id).toBe(created.body.id);

      const patched = await api<Product>("PATCH", `/products/${created.body.id}`, {
        token: admin,
        body: { price: { amount: 2499, currency: "EUR" }, attributes: { color: "red" } },
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({
        price: { amount: 2499, currency: "EUR" },
        attributes: { color: "red" },
        version: 2,
        slug: "creme-brulee-torch-3000",
      });

      // A PATCH that changes nothing leaves the version alone.
      const same = await api<Product>("PATCH", `/products/${created.body.id}`, {
        token: admin,
        body: { price: { amount: 2499, currency: "EUR" } },
      });
      expect(same.body.version).toBe(2);

      const archived = await api("DELETE", `/products/${created.body.id}`, { token: admin });
      expect(archived.status).toBe(204);
      expect((await api("GET", `/products/${created.body.id}`)).status).toBe(404);
      expect((await api("DELETE", `/products/${created.body.id}`, { token: admin })).status).toBe(
        204,
      );
      const snapshot = await platform.broker.call<ProductSnapshot, { id: string }>("catalog.get", {
        id: created.body.id,
      });
      expect(snapshot).toMatchObject({ status: "archived", version: 3 });
    });

    it("refuses bad input with 400 naming the field", async () => {
      const category = await newCategory();
      const cases: [Record<string, unknown>, string][] = [
        [{ price: { amount: -1, currency: "EUR" } }, "price.amount"],
        [{ price: { amount: 12.5, currency: "EUR" } }, "price.amount"],
        [{ price: { amount: "100", currency: "EUR" } }, "price.amount"],
        [{ price: { amount: 100, currency: "eur" } }, "price.currency"],
        [{ price: { amount: 100, currency: "EURO" } }, "price.currency"],
        [{ price: { amount: 100, currency: "EUR", tax: 1 } }, "price.tax"],
        [{ slug: "Not A Slug" }, "slug"],
        [{ slug: "trailing-" }, "slug"],
        [{ sku: "has space" }, "sku"],
        [{ status: "deleted" }, "status"],
        [{ images: ["ftp://example.com/a.jpg"] }, "images[0]"],
        [{ attributes: { Color: "red" } }, "attributes"],
        [{ role: "admin" }, "role"],
        [{ version: 7 }, "version"],
        [{ categoryId: "00000000-0000-4000-8000-000000000000" }, "categoryId"],
      ];
      for (const [overrides, field] of cases) {
        const res = await api<ErrorBody>("POST", "/products", {
          token: admin,
          body: productBody(category.id, overrides),
        });
        expect({ overrides, status: res.status }).toEqual({ overrides, status: 400 });
        expect(fieldsOf(res).some((f) => f?.startsWith(field))).toBe(true);
      }
      const manyAttributes = Object.fromEntries(
        Array.from({ length: 31 }, (_, i) => [`a${i}`, "x"]),
      );
      const tooMany = await api("POST", "/products", {
        token: admin,
        body: productBody(category.id, { attributes: manyAttributes }),
      });
      expect(tooMany.status).toBe(400);
      expect(fieldsOf(tooMany)).toContain("attributes");

      const product = await newProduct(category.id);
      for (const [body, field] of [
        [{ version: 9 }, "version"],
        [{ createdAt: "2020-01-01T00:00:00Z" }, "createdAt"],
        [{ price: { amount: 1 } }, "price.currency"],
        [{ categoryId: "00000000-0000-4000-8000-000000000000" }, "categoryId"],
      ] as const) {
        const res = await api("PATCH", `/products/${product.id}`, { token: admin, body });
        expect(res.status).toBe(400);
        expect(fieldsOf(res)).toContain(field);
      }
      expect(
        (await api("PATCH", `/products/${randomUUID()}`, { token: admin, body: {} })).status,
      ).toBe(404);
    });

    it("answers 409 for a duplicate sku or slug, and suffixes generated slugs", async () => {
      const category = await newCategory();
      const first = await newProduct(category.id, { name: "Duplicate Me" });
      const sameSku = await api("POST", "/products", {
        token: admin,
        body: productBody(category.id, { sku: first.sku.toLowerCase() }),
      });
      expect(sameSku.status).toBe(409);
      expect(fieldsOf(sameSku)).toEqual(["sku"]);

      const sameSlug = await api("POST", "/products", {
        token: admin,
        body: productBody(category.id, { slug: first.slug }),
      });
      expect(sameSlug.status).toBe(409);
      expect(fieldsOf(sameSlug)).toEqual(["slug"]);

      const second = await newProduct(category.id, { name: "Duplicate Me" });
      expect(second.slug).toBe(`${first.slug}-2`);

      const other = await newProduct(category.id);
      const patchSlug = await api("PATCH", `/products/${other.id}`, {
        token: admin,
        body: { slug: first.slug },
      });
      expect(patchSlug.status).toBe(409);
      expect(fieldsOf(patchSlug)).toEqual(["slug"]);
    });

    it("keeps sku and slug unique under concurrency", async () => {
      const category = await newCategory();
      const sku = uniqueName("RACE").replace(/_/g, "-");
      const sameSku = await Promise.all(
        Array.from({ length: 5 }, () =>
          api("POST", "/products", { token: admin, body: productBody(category.id, { sku }) }),
        ),
      );
      expect(sameSku.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409]);

      const name = `Racing Name ${uniqueName("n")}`;
      const sameName = await Promise.all(
        Array.from({ length: 5 }, () =>
          api<Product>("POST", "/products", {
            token: admin,
            body: productBody(category.id, { name }),
          }),
        ),
      );
      expect(sameName.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
      expect(new Set(sameName.map((r) => r.body.slug)).size).toBe(5);
    });

    it("is for admins only: 403 for a customer, 401 without a token", async () => {
      const category = await newCategory();
      const product = await newProduct(category.id);
      const calls: [string, string, unknown][] = [
        ["POST", "/products", productBody(category.id)],
        ["PATCH", `/products/${product.id}`, { name: "Mine now" }],
        ["DELETE", `/products/${product.id}`, undefined],
        ["POST", "/categories", { name: "Mine" }],
        ["PATCH", `/categories/${category.id}`, { name: "Mine" }],
      ];
      for (const [method, path, body] of calls) {
        expect((await api(method, path, { token: customer, body })).status).toBe(403);
        expect((await api(method, path, { body })).status).toBe(401);
      }
      expect((await api<Product>("GET", `/products/${product.id}`)).body.name).toBe(product.name);
    });
  });

  describe("categories", () => {
    it("serves the tree ordered by position then name, and a category with its breadcrumb", async () => {
      const root = await newCategory({ name: `Electronics ${uniqueName("e")}` });
      const audio = await newCategory({ name: "Audio", parentId: root.id, position: 2 });
      const cameras = await newCategory({ name: "Cameras", parentId: root.id, position: 1 });
      const phones = await newCategory({ name: "Phones", parentId: root.id, position: 1 });
      const headphones = await newCategory({ name: "Headphones", parentId: audio.id });
      expect(audio.slug).toMatch(/^audio(-\d+)?$/);

      const tree = await api<Category[]>("GET", "/categories");
      expect(tree.status).toBe(200);
      const mine = tree.body.find((c) => c.id === root.id)!;
      expect(mine.children.map((c) => c.id)).toEqual([cameras.id, phones.id, audio.id]);
      expect(mine.children[2].children.map((c) => c.id)).toEqual([headphones.id]);

      for (const key of [headphones.id, headphones.slug]) {
        const detail = await api<Category>("GET", `/categories/${key}`);
        expect(detail.status).toBe(200);
        expect(detail.body.path!.map((c) => c.id)).toEqual([root.id, audio.id, headphones.id]);
        expect(detail.body.path![0]).toEqual({ id: root.id, slug: root.slug, name: root.name });
      }
      const audioDetail = await api<Category>("GET", `/categories/${audio.slug}`);
      expect(audioDetail.body.children.map((c) => c.id)).toEqual([headphones.id]);
      expect((await api("GET", "/categories/no-such-category")).status).toBe(404);
    });

    it("refuses a move that would make a cycle, an unknown parent and a taken slug", async () => {
      const a = await newCategory();
      const b = await newCategory({ parentId: a.id });
      const c = await newCategory({ parentId: b.id });
      for (const parentId of [a.id, c.id]) {
        const res = await api("PATCH", `/categories/${a.id}`, { token: admin, body: { parentId } });
        expect(res.status).toBe(400);
        expect(fieldsOf(res)).toEqual(["parentId"]);
      }
      const unknown = await api("POST", "/categories", {
        token: admin,
        body: { name: "Orphan", parentId: "00000000-0000-4000-8000-000000000000" },
      });
      expect(unknown.status).toBe(400);
      expect(fieldsOf(unknown)).toEqual(["parentId"]);
      const taken = await api("POST", "/categories", {
        token: admin,
        body: { name: "Copy", slug: a.slug },
      });
      expect(taken.status).toBe(409);
      expect(fieldsOf(taken)).toEqual(["slug"]);

      const moved = await api<Category>("PATCH", `/categories/${c.id}`, {
        token: admin,
        body: { parentId: null, name: "Promoted" },
      });
      expect(moved.status).toBe(200);
      expect(moved.body).toMatchObject({ parentId: null, name: "Promoted" });
      expect(moved.body.path!.map((p) => p.id)).toEqual([c.id]);
    });
  });

  describe("public product list", () => {
    it("filters by category (with sub-categories), brand and price, with totals", async () => {
      const root = await newCategory();
      const child = await newCategory({ parentId: root.id });
      const grandchild = await newCategory({ parentId: child.id });
      const elsewhere = await newCategory();
      const brandA = `BrandA ${uniqueName("b")}`;
      const brandB = `BrandB ${uniqueName("b")}`;
      const inRoot = await newProduct(root.id, {
        brand: brandA,
        price: { amount: 500, currency: "EUR" },
      });
      const inChild = await newProduct(child.id, {
        brand: brandB,
        price: { amount: 1500, currency: "EUR" },
      });
      const inGrandchild = await newProduct(grandchild.id, {
        brand: brandA,
        price: { amount: 2500, currency: "EUR" },
      });
      await newProduct(elsewhere.id, { brand: brandA });

      const all = await list(`category=${root.slug}&sort=price`);
      expect(all.status).toBe(200);
      expect(all.body).toMatchObject({ page: 1, pageSize: 20, total: 3 });
      expect(skusOf(all)).toEqual([inRoot.sku, inChild.sku, inGrandchild.sku]);
      expect(skusOf(await list(`category=${child.id}&sort=price`))).toEqual([
        inChild.sku,
        inGrandchild.sku,
      ]);

      const byBrand = await list(
        `category=${root.id}&brand=${encodeURIComponent(brandA.toUpperCase())}&sort=price`,
      );
      expect(skusOf(byBrand)).toEqual([inRoot.sku, inGrandchild.sku]);
      const brands = await list(
        `category=${root.id}&brand=${encodeURIComponent(`${brandA},${brandB}`)}&sort=price`,
      );
      expect(brands.body.total).toBe(3);

      expect(skusOf(await list(`category=${root.id}&minPrice=1000&maxPrice=2000`))).toEqual([
        inChild.sku,
      ]);
      expect(skusOf(await list(`category=${root.id}&minPrice=1500&sort=price`))).toEqual([
        inChild.sku,
        inGrandchild.sku,
      ]);
      expect(skusOf(await list(`category=${root.id}&maxPrice=500`))).toEqual([inRoot.sku]);
      const inverted = await list(`category=${root.id}&minPrice=10&maxPrice=5`);
      expect(inverted.status).toBe(400);
      expect(fieldsOf(inverted)).toEqual(["minPrice"]);
      expect((await list("category=no-such-category")).body).toMatchObject({ items: [], total: 0 });
      const unknownParam = await list("q=phone");
      expect(unknownParam.status).toBe(400);
      expect(fieldsOf(unknownParam)).toEqual(["q"]);
      expect((await list("pageSize=101")).status).toBe(400);
    });

    it("sorts by price, name and newest, and pages with stable totals", async () => {
      const category = await newCategory();
      const made: Product[] = [];
      for (const [name, amount] of [
        ["Banana", 300],
        ["apple", 100],
        ["Cherry", 200],
        ["Date", 400],
        ["Elderberry", 50],
      ] as const)
        made.push(await newProduct(category.id, { name, price: { amount, currency: "EUR" } }));
      const names = async (sort: string) =>
        (await list(`category=${category.id}&sort=${sort}`)).body.items.map((p) => p.name);
      expect(await names("price")).toEqual(["Elderberry", "apple", "Cherry", "Banana", "Date"]);
      expect(await names("-price")).toEqual(["Date", "Banana", "Cherry", "apple", "Elderberry"]);
      expect((await names("name")).map((n) => n.toLowerCase())).toEqual([
        "apple",
        "banana",
        "cherry",
        "date",
        "elderberry",
      ]);
      expect((await names("-name")).map((n) => n.toLowerCase())).toEqual([
        "elderberry",
        "date",
        "cherry",
        "banana",
        "apple",
      ]);
      expect(await names("newest")).toEqual(made.map((p) => p.name).reverse());
      expect(await names("newest")).toEqual(
        (await list(`category=${category.id}`)).body.items.map((p) => p.name),
      );

      const pages = await Promise.all(
        [1, 2, 3].map((page) => list(`category=${category.id}&sort=price&pageSize=2&page=${page}`)),
      );
      expect(pages.map((p) => p.body.total)).toEqual([5, 5, 5]);
      expect(pages.map((p) => p.body.page)).toEqual([1, 2, 3]);
      expect(pages.flatMap((p) => p.body.items.map((i) => i.name))).toEqual(await names("price"));
    });

    it("hides draft and archived products from public routes, by id and by slug", async () => {
      const category = await newCategory();
      const draft = await newProduct(category.id, { status: "draft" });
      const archived = await newProduct(category.id);
      await api("DELETE", `/products/${archived.id}`, { token: admin });
      const active = await newProduct(category.id);
      expect(skusOf(await list(`category=${category.id}`))).toEqual([active.sku]);
      for (const p of [draft, archived]) {
        expect((await api("GET", `/products/${p.id}`)).status).toBe(404);
        expect((await api("GET", `/products/${p.slug}`)).status).toBe(404);
      }
      const published = await api<Product>("PATCH", `/products/${draft.id}`, {
        token: admin,
        body: { status: "active" },
      });
      expect(published.body.status).toBe("active");
      expect((await api("GET", `/products/${draft.slug}`)).status).toBe(200);
    });

    it("filters on stock and shows availability once StockChanged arrives", async () => {
      const category = await newCategory();
      const stocked = await newProduct(category.id);
      const empty = await newProduct(category.id);
      expect((await list(`category=${category.id}&inStock=true`)).body.total).toBe(0);
      // Warm the cache: a stock level must clean it too.
      expect((await api<Product>("GET", `/products/${stocked.slug}`)).body.availability).toEqual({
        available: 0,
        inStock: false,
      });

      await publishStock(stocked.id, 7, 3);
      await publishStock(empty.id, 0, 1);
      await waitFor(async () => {
        expect(skusOf(await list(`category=${category.id}&inStock=true`))).toEqual([stocked.sku]);
        return true;
      });
      expect(skusOf(await list(`category=${category.id}&inStock=false`))).toEqual([empty.sku]);
      for (const key of [stocked.id, stocked.slug]) {
        const page = await api<Product>("GET", `/products/${key}`);
        expect(page.body.availability).toEqual({ available: 7, inStock: true });
      }

      // An older level arriving late, and a duplicate, change nothing; a newer one does.
      await publishStock(stocked.id, 1, 2);
      await publishStock(stocked.id, 7, 3);
      await publishStock(stocked.id, 4, 4);
      await waitFor(async () => {
        const page = await api<Product>("GET", `/products/${stocked.id}`);
        expect(page.body.availability).toEqual({ available: 4, inStock: true });
        return true;
      });
      await publishStock(stocked.id, 0, 5);
      await waitFor(async () => {
        expect((await list(`category=${category.id}&inStock=true`)).body.total).toBe(0);
        return true;
      });
    });
  });

  describe("cache", () => {
    it("shows an updated price on the very next read", async () => {
      const category = await newCategory();
      const product = await newProduct(category.id, { price: { amount: 1000, currency: "USD" } });
      for (let round = 1; round <= 3; round++) {
        // Twice, so the second read is served from the cache.
        for (let i = 0; i < 2; i++) {
          expect((await api<Product>("GET", `/products/${product.slug}`)).body.price.amount).toBe(
            1000 * round,
          );
          expect((await list(`category=${category.id}`)).body.items[0].price.amount).toBe(
            1000 * round,
          );
        }
        const patched = await api("PATCH", `/products/${product.id}`, {
          token: admin,
          body: { price: { amount: 1000 * (round + 1), currency: "USD" } },
        });
        expect(patched.status).toBe(200);
      }
      expect((await api<Product>("GET", `/products/${product.id}`)).body.price.amount).toBe(4000);
    });

    it("serves reads from the cache until a change cleans it", async () => {
      const category = await newCategory();
      const product = await newProduct(category.id, { price: { amount: 700, currency: "USD" } });
      expect((await api<Product>("GET", `/products/${product.id}`)).body.name).toBe(product.name);
      // A write behind the service's back: the cached read does not see it…
      const db = await infrastructureOf(platform.broker).database("catalog");
      await db.sequelize.query("UPDATE products SET name = ? WHERE id = ?", {
        replacements: ["Changed Behind The Back", product.id],
      });
      expect((await api<Product>("GET", `/products/${product.id}`)).body.name).toBe(product.name);
      // …until a change through the service cleans the cache.
      await api("PATCH", `/products/${product.id}`, {
        token: admin,
        body: { price: { amount: 800, currency: "USD" } },
      });
      const fresh = await api<Product>("GET", `/products/${product.id}`);
      expect(fresh.body).toMatchObject({
        name: "Changed Behind The Back",
        price: { amount: 800, currency: "USD" },
      });
    });

    it("cleans only what shows availability when a stock level changes", async () => {
      const category = await newCategory();
      const [sold, other] = [await newProduct(category.id), await newProduct(category.id)];
      const pages = [sold.id, sold.id.toUpperCase(), ` ${sold.slug}`, other.id, other.slug];
      const read = (key: string) => api<Product>("GET", `/products/${encodeURIComponent(key)}`);
      for (const key of pages) expect((await read(key)).body.name).not.toBe("Renamed Quietly");
      const namesListed = async () =>
        new Map((await list(`category=${category.id}`)).body.items.map((p) => [p.id, p.name]));
      expect((await namesListed()).size).toBe(2);
      const snapshots = () =>
        platform.broker.call<ProductSnapshot[], { ids: string[] }>("catalog.getMany", {
          ids: [sold.id, other.id],
        });
      await snapshots();
      // Writes behind the service's back show only where the cache was cleaned.
      const db = await infrastructureOf(platform.broker).database("catalog");
      await db.sequelize.query("UPDATE products SET name = 'Renamed Quietly' WHERE id IN (?)", {
        replacements: [[sold.id, other.id]],
      });

      await publishStock(sold.id, 5, 1);

      // The sold product's page, however it is spelt, and the lists show the new level…
      await waitFor(async () => (await read(sold.slug)).body.availability.available === 5);
      for (const key of [sold.id, sold.id.toUpperCase(), ` ${sold.slug}`])
        expect((await read(key)).body).toMatchObject({
          name: "Renamed Quietly",
          availability: { available: 5, inStock: true },
        });
      const listed = await namesListed();
      expect([listed.get(sold.id), listed.get(other.id)]).toEqual([
        "Renamed Quietly",
        "Renamed Quietly",
      ]);
      // …while the other product's pages and the snapshots (no availability in them) stay cached.
      for (const key of [other.id, other.slug])
        expect((await read(key)).body.name).toBe(other.name);
      expect((await snapshots()).map((p) => p.name)).toEqual([sold.name, other.name]);
    });

    it("shows a renamed category on the very next read", async () => {
      const category = await newCategory();
      expect((await api<Category>("GET", `/categories/${category.slug}`)).body.name).toBe(
        category.name,
      );
      await api("PATCH", `/categories/${category.id}`, { token: admin, body: { name: "Renamed" } });
      expect((await api<Category>("GET", `/categories/${category.slug}`)).body.name).toBe(
        "Renamed",
      );
    });
  });

  describe("product.events", () => {
    it("publishes Created, Updated and Archived with the snapshot and increasing versions", async () => {
      const parent = await newCategory();
      const category = await newCategory({ parentId: parent.id });
      const product = await newProduct(category.id, { status: "draft" });
      await api("PATCH", `/products/${product.id}`, {
        token: admin,
        body: { status: "active", price: { amount: 5000, currency: "EUR" } },
      });
      await api("DELETE", `/products/${product.id}`, { token: admin });

      const events = await waitFor(() => {
        const got = eventsOf(product.id);
        return got.length >= 3 ? got : undefined;
      });
      expect(events.map((e) => e.type)).toEqual([
        EventTypes.ProductCreated,
        EventTypes.ProductUpdated,
        EventTypes.ProductArchived,
      ]);
      const [created, updated, archived] = events as [
        MessageEnvelope<ProductSnapshot>,
        MessageEnvelope<ProductSnapshot>,
        MessageEnvelope<ProductArchivedPayload>,
      ];
      expect(created.payload).toEqual({
        id: product.id,
        sku: product.sku,
        slug: product.slug,
        name: product.name,
        description: product.description,
        brand: product.brand,
        categoryId: category.id,
        categoryPath: [parent.id, category.id],
        categoryName: category.name,
        price: { amount: 1999, currency: "EUR" },
        attributes: { color: "blue" },
        images: product.images,
        status: "draft",
        createdAt: product.createdAt,
        updatedAt: product.createdAt,
        version: 1,
      });
      expect(updated.payload).toMatchObject({
        status: "active",
        price: { amount: 5000, currency: "EUR" },
        version: 2,
      });
      expect(archived.payload).toEqual({ id: product.id, version: 3 });
      expect(new Set(events.map((e) => e.aggregateId))).toEqual(new Set([product.id]));
    });

    it("republishes the products of a renamed or moved category's subtree", async () => {
      const root = await newCategory();
      const child = await newCategory({ parentId: root.id });
      const other = await newCategory();
      const inRoot = await newProduct(root.id);
      const inChild = await newProduct(child.id);

      await api("PATCH", `/categories/${root.id}`, { token: admin, body: { name: "New Name" } });
      const renamed = await waitFor(() =>
        eventsOf(inRoot.id).find((e) => e.type === EventTypes.ProductUpdated),
      );
      expect(renamed.payload).toMatchObject({ categoryName: "New Name", version: 2 });
      await waitFor(() => eventsOf(inChild.id).find((e) => e.type === EventTypes.ProductUpdated));

      await api("PATCH", `/categories/${child.id}`, { token: admin, body: { parentId: other.id } });
      const moved = await waitFor(() =>
        eventsOf(inChild.id).find(
          (e) =>
            e.type === EventTypes.ProductUpdated &&
            (e.payload as ProductSnapshot).categoryPath[0] === other.id,
        ),
      );
      expect(moved.payload).toMatchObject({ categoryPath: [other.id, child.id], version: 3 });
      expect((await api<Product>("GET", `/products/${inChild.id}`)).body.categoryPath).toEqual([
        other.id,
        child.id,
      ]);
      expect(eventsOf(inRoot.id).length).toBe(2);
    });
  });

  describe("gateway", () => {
    it("routes and documents the REST actions only", async () => {
      const doc = await api<{ paths: Record<string, Record<string, unknown>> }>(
        "GET",
        "/openapi.json",
      );
      expect(Object.keys(doc.body.paths["/products"]).sort()).toEqual(["get", "post"]);
      expect(Object.keys(doc.body.paths["/products/{idOrSlug}"])).toEqual(["get"]);
      expect(Object.keys(doc.body.paths["/products/{id}"]).sort()).toEqual(["delete", "patch"]);
      expect(Object.keys(doc.body.paths["/categories"]).sort()).toEqual(["get", "post"]);
      expect(Object.keys(doc.body.paths["/categories/{idOrSlug}"])).toEqual(["get"]);
      expect(Object.keys(doc.body.paths["/categories/{id}"])).toEqual(["patch"]);
      const internal = Object.keys(doc.body.paths).filter((p) => /export|import|getMany/.test(p));
      expect(internal).toEqual([]);
      for (const path of ["/catalog/export", "/catalog/get", "/catalog/importProducts"])
        expect((await api("GET", path, { token: admin })).status).toBe(404);
    });
  });

  describe("internal actions", () => {
    it("refuses a product page asked for with anything but a string, before its cache key is made", async () => {
      // "42" and "null" are slugs a product may have: a number or null must not reach its page.
      const category = await newCategory();
      for (const slug of ["42", "null"]) {
        await newProduct(category.id, { slug });
        expect((await api<Product>("GET", `/products/${slug}`)).status).toBe(200);
      }
      for (const params of [{ idOrSlug: 42 }, { idOrSlug: null }, {}])
        await expect(platform.broker.call("catalog.getProduct", params)).rejects.toMatchObject({
          code: 422,
        });
    });

    it("get, getMany and export serve snapshots of any status", async () => {
      const category = await newCategory();
      const draft = await newProduct(category.id, { status: "draft" });
      const active = await newProduct(category.id);
      const call = platform.broker.call.bind(platform.broker);

      expect(await call("catalog.get", { id: draft.id })).toMatchObject({
        id: draft.id,
        status: "draft",
      });
      await expect(call("catalog.get", { id: randomUUID() })).rejects.toMatchObject({
        type: "NOT_FOUND",
      });
      const many = await call<ProductSnapshot[], { ids: string[] }>("catalog.getMany", {
        ids: [active.id, randomUUID(), draft.id],
      });
      expect(many.map((p) => p.id)).toEqual([active.id, draft.id]);

      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page: { items: ProductSnapshot[]; nextCursor: string | null } = await call(
          "catalog.export",
          { limit: 3, ...(cursor ? { cursor } : {}) },
        );
        expect(page.items.length).toBeLessThanOrEqual(3);
        seen.push(...page.items.map((p) => p.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual([...seen].sort());
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual(expect.arrayContaining([draft.id, active.id]));

      const drafts: { items: ProductSnapshot[] } = await call("catalog.export", {
        status: "draft",
        limit: 1000,
      });
      expect(drafts.items.every((p) => p.status === "draft")).toBe(true);
      expect(drafts.items.map((p) => p.id)).toContain(draft.id);
    });

    it("importProducts creates a batch in one transaction, all or none", async () => {
      const category = await newCategory();
      const name = `Imported ${uniqueName("i")}`;
      const batch = Array.from({ length: 3 }, () => productBody(category.id, { name }));
      const result = await platform.broker.call("catalog.importProducts", { products: batch });
      expect(result).toEqual({ created: 3 });
      const slugs = (await list(`category=${category.id}`)).body.items.map((p) => p.slug).sort();
      expect(slugs).toEqual([slugs[0], `${slugs[0]}-2`, `${slugs[0]}-3`]);

      const clash = [productBody(category.id), productBody(category.id, { sku: batch[0].sku })];
      await expect(
        platform.broker.call("catalog.importProducts", { products: clash }),
      ).rejects.toMatchObject({
        code: 409,
        data: { details: [expect.objectContaining({ field: "products[1].sku" })] },
      });
      const twice = [
        productBody(category.id, { slug: "twice" }),
        productBody(category.id, { slug: "twice" }),
      ];
      await expect(
        platform.broker.call("catalog.importProducts", { products: twice }),
      ).rejects.toMatchObject({
        code: 409,
        data: { details: [expect.objectContaining({ field: "products[1].slug" })] },
      });
      expect((await list(`category=${category.id}`)).body.total).toBe(3);
      await expect(
        platform.broker.call("catalog.importProducts", {
          products: [
            productBody(category.id),
            productBody(category.id, { price: { amount: -5, currency: "EUR" } }),
          ],
        }),
      ).rejects.toMatchObject({
        name: "ValidationError",
        data: [expect.objectContaining({ field: "products[1].price.amount" })],
      });
      await expect(
        platform.broker.call("catalog.importProducts", {
          products: [productBody(category.id), productBody("00000000-0000-4000-8000-000000000000")],
        }),
      ).rejects.toMatchObject({
        code: 400,
        data: { details: [{ field: "products[1].categoryId", message: expect.any(String) }] },
      });
      expect((await list(`category=${category.id}`)).body.total).toBe(3);
    });
  });
});
