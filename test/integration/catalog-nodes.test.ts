import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Context, ServiceBroker } from "moleculer";
import { buildBrokerOptions } from "../../lib/broker";
import { loadConfig } from "../../lib/config";
import type { ProductSnapshot } from "../../lib/contracts/catalog";
import { infrastructureOf } from "../../lib/infra";
import CatalogService, { CACHE_CLEAN_EVENT } from "../../services/catalog/catalog.service";
import {
  dropMysqlDatabases,
  freshMysqlUrl,
  realServersFor,
  servers,
  uniqueName,
} from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * Two catalog nodes on one MariaDB database, connected by NATS, each with its
 * own in-memory cache (no REDIS_URL): a change made on one node must reach the
 * other node's cached reads through the ephemeral cache-clean broadcast.
 */
const needed = realServersFor("mysql", "nats");

interface Product extends ProductSnapshot {
  availability: { available: number; inStock: boolean };
}

if (needed.length === 2)
  describe("catalog on two nodes with memory caches", () => {
    const namespace = uniqueName("ns");
    const mysqlUrl = freshMysqlUrl();
    let dataDir: string;
    let a: ServiceBroker;
    let b: ServiceBroker;

    function node(name: string): ServiceBroker {
      const config = loadConfig({
        LOG_LEVEL: "warn",
        NODE_ID: uniqueName(name),
        DATA_DIR: dataDir,
        MYSQL_URL: mysqlUrl,
        TRANSPORTER: servers.nats!,
      });
      const broker = new ServiceBroker(buildBrokerOptions(config, { namespace }));
      broker.createService(CatalogService);
      broker.createService({
        name: "marker-probe",
        events: {
          [MARKER_EVENT]: (ctx: Context<string>) =>
            void markers.push(`${broker.nodeID} ${ctx.params}`),
        },
      });
      return broker;
    }

    /** Markers broadcast by the test, as "<receiving node> <marker>". */
    const MARKER_EVENT = "test.catalog-nodes.marker";
    const markers: string[] = [];
    /**
     * Waits until B has handled everything A broadcast so far (the cache
     * cleans of A's changes included): A's packets reach B in the order A
     * sent them, so a marker A sends now arrives after them.
     */
    async function bCaughtUpWithA(): Promise<void> {
      const marker = uniqueName("marker");
      await a.broadcast(MARKER_EVENT, marker);
      await waitFor(() => markers.includes(`${b.nodeID} ${marker}`));
    }

    beforeAll(async () => {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "catalog-nodes-"));
      a = node("catalog-a");
      b = node("catalog-b");
      await a.start();
      await b.start();
      await waitFor(
        () =>
          [a, b].every(
            (n) =>
              n.registry.getServiceList({ onlyAvailable: true }).filter((s) => s.name === "catalog")
                .length === 2,
          ),
        { timeoutMs: 10_000 },
      );
    });

    afterAll(async () => {
      await Promise.allSettled([a, b].map((n) => n?.stop()));
      await dropMysqlDatabases(mysqlUrl);
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    const on = (broker: ServiceBroker) => ({ nodeID: broker.nodeID });

    it("cleans the other node's cache when a product changes", async () => {
      const category = await a.call<{ id: string }, object>(
        "catalog.createCategory",
        { name: uniqueName("Category") },
        on(a),
      );
      const product = await a.call<Product, object>(
        "catalog.createProduct",
        {
          sku: uniqueName("SKU").replace(/_/g, "-"),
          name: "Two Node Kettle",
          brand: "Kochwerk",
          categoryId: category.id,
          price: { amount: 1000, currency: "EUR" },
          status: "active",
        },
        on(a),
      );
      const readOnB = () =>
        b.call<Product, object>("catalog.getProduct", { idOrSlug: product.slug }, on(b));
      // The cleans of those two changes reach B before it caches the product, not after.
      await bCaughtUpWithA();
      expect((await readOnB()).price.amount).toBe(1000);

      // B serves its cached copy: a write behind the services' back stays unseen there.
      const db = await infrastructureOf(a).database("catalog");
      await db.sequelize.query("UPDATE products SET name = 'Renamed Quietly' WHERE id = ?", {
        replacements: [product.id],
      });
      expect((await readOnB()).name).toBe("Two Node Kettle");

      await a.call(
        "catalog.updateProduct",
        { id: product.id, price: { amount: 2000, currency: "EUR" } },
        on(a),
      );
      const fresh = await waitFor(
        async () => {
          const read = await readOnB();
          return read.price.amount === 2000 ? read : undefined;
        },
        { timeoutMs: 2000 },
      );
      expect(fresh.name).toBe("Renamed Quietly");
    });

    it("cleans the other node's page of a product whose stock changed, and no other page", async () => {
      const category = await a.call<{ id: string }, object>(
        "catalog.createCategory",
        { name: uniqueName("Category") },
        on(a),
      );
      const create = (name: string) =>
        a.call<Product, object>(
          "catalog.createProduct",
          {
            sku: uniqueName("SKU").replace(/_/g, "-"),
            name,
            brand: "Kochwerk",
            categoryId: category.id,
            price: { amount: 1000, currency: "EUR" },
            status: "active",
          },
          on(a),
        );
      const sold = await create("Sold Kettle");
      const other = await create("Other Kettle");
      const readOnB = (product: Product) =>
        b.call<Product, object>("catalog.getProduct", { idOrSlug: product.slug }, on(b));
      await bCaughtUpWithA();
      expect((await readOnB(sold)).availability.available).toBe(0);
      expect((await readOnB(other)).name).toBe("Other Kettle");
      const db = await infrastructureOf(a).database("catalog");
      await db.sequelize.query("UPDATE products SET name = 'Renamed Quietly' WHERE id = ?", {
        replacements: [other.id],
      });

      // A stock level as the StockChanged consumer applies it, on A.
      const catalogOnA = a.getLocalService("catalog") as unknown as {
        products: { applyStockLevel(level: object): Promise<boolean> };
      };
      await catalogOnA.products.applyStockLevel({
        productId: sold.id,
        onHand: 3,
        reserved: 0,
        available: 3,
        version: 1,
      });

      await waitFor(async () => (await readOnB(sold)).availability.available === 3, {
        timeoutMs: 3000,
      });
      await bCaughtUpWithA();
      expect((await readOnB(other)).name).toBe("Other Kettle");
    });
  });

describe("catalog cache invalidation on one node", () => {
  let dataDir: string;
  let broker: ServiceBroker;
  /** Node ids the cache-clean broadcasts came from. */
  const events: string[] = [];

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "catalog-node-"));
    const config = loadConfig({
      LOG_LEVEL: "warn",
      NODE_ID: uniqueName("catalog"),
      DATA_DIR: dataDir,
      SQLITE_STORAGE: ":memory:",
    });
    broker = new ServiceBroker(buildBrokerOptions(config, { namespace: uniqueName("ns") }));
    broker.createService(CatalogService);
    broker.createService({
      name: "listener",
      events: { [CACHE_CLEAN_EVENT]: (ctx: Context) => void events.push(ctx.nodeID ?? "") },
    });
    await broker.start();
  });

  afterAll(async () => {
    await broker?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("cleans its own cache once per change and ignores its own broadcast", async () => {
    const category = await broker.call<{ id: string }, object>("catalog.createCategory", {
      name: uniqueName("Category"),
    });
    await waitFor(() => events.length === 1);
    events.length = 0;
    const clean = jest.spyOn(broker.cacher!, "clean");
    await broker.call("catalog.updateCategory", { id: category.id, position: 3 });
    await waitFor(() => events.length === 1);
    expect(events).toEqual([broker.nodeID]);
    expect(clean.mock.calls).toEqual([["catalog.**"]]);
    clean.mockRestore();
  });
});
