/**
 * Loads a demo catalog (scripts/demo-catalog.ts) through the services
 * themselves, on the configuration `npm start` uses:
 *
 *   npm run seed -- --products 10000            # into an empty catalog
 *   npm run seed -- --products 10000 --clean    # replace what is there (embedded only…)
 *   MYSQL_URL=… npm run seed -- --products 10000 --clean --yes   # …unless --yes
 *   npm run seed -- --seed 7                    # another (still deterministic) catalog
 *
 * The catalog service (and the inventory service, when it exists) run in
 * this process: categories through `catalog.createCategory`, products through
 * `catalog.importProducts` in batches of 500 (one transaction each, with their
 * ProductCreated outbox rows), stock through `inventory.setStockBulk`. It
 * ends once the outboxes have published everything, so consumers elsewhere
 * (search, over CHANNELS_URL) get every product.
 */
import cliProgress from "cli-progress";
import { ServiceBroker } from "moleculer";
import { buildBrokerOptions } from "../lib/broker";
import { loadConfig, mysqlUrlFor } from "../lib/config";
import type { ProductSnapshot } from "../lib/contracts/catalog";
import { infrastructureOf } from "../lib/infra";
import type { OutboxStatus } from "../lib/messaging/outbox";
import { CACHE_CLEAN_EVENT } from "../services/catalog/catalog.service";
import CatalogService from "../services/catalog/catalog.service";
import InventoryService from "../services/inventory/inventory.service";
import { analyzeCatalog, clearCatalog } from "../services/catalog/catalog-repository";
import { IMPORT_BATCH_MAX } from "../services/catalog/catalog.params";
import { demoBrands, demoCategories, DemoProduct, demoProducts } from "./demo-catalog";

export interface SeedOptions {
  products: number;
  clean: boolean;
  yes: boolean;
  seed: number;
}

const STOCK_BATCH = 1000;
const EXPORT_PAGE = 1000;
const CALL_TIMEOUT_MS = 120_000;
const DRAIN_TIMEOUT_MS = 10 * 60_000;

export function parseArgs(argv: string[]): SeedOptions {
  const options: SeedOptions = { products: 1000, clean: false, yes: false, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const raw = argv[++i];
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0)
        throw new Error(`${arg} needs a whole number, got "${raw}"`);
      return n;
    };
    if (arg === "--products") options.products = value();
    else if (arg === "--seed") options.seed = value();
    else if (arg === "--clean") options.clean = true;
    else if (arg === "--yes") options.yes = true;
    else throw new Error(`Unknown argument "${arg}" (use --products N, --clean, --yes, --seed N)`);
  }
  return options;
}

const say = (line: string) => process.stdout.write(`${line}\n`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function seed(options: SeedOptions): Promise<void> {
  // Quieter than a node by default (a progress bar shares the terminal); LOG_LEVEL still wins.
  const config = loadConfig({ LOG_LEVEL: "warn", ...process.env });
  const embedded = !mysqlUrlFor("catalog", config);
  if (options.clean && !embedded && !options.yes)
    throw new Error(
      "--clean would empty the catalog database on MySQL; add --yes if that is what you want",
    );

  const started = Date.now();
  const broker = new ServiceBroker(buildBrokerOptions(config));
  broker.createService(CatalogService);
  broker.createService(InventoryService);
  await broker.start();
  try {
    if (options.clean) {
      await clearCatalog(await infrastructureOf(broker).database("catalog"));
      await broker.cacher?.clean("catalog.**");
      await broker.broadcast(CACHE_CLEAN_EVENT, {});
      say(`Emptied the catalog (${embedded ? "embedded" : "MySQL"}).`);
    } else {
      const existing = await broker.call<{ items: unknown[] }, object>("catalog.export", {
        limit: 1,
      });
      if (existing.items.length)
        throw new Error("The catalog already has products: add --clean to replace them");
    }

    const categoryIds = await createCategories(broker);
    const products = demoProducts(options.products, options.seed, config.shopCurrency);

    // One phase at a time: on SQLite everything shares one writer, and a phase's reads
    // (the id export) would queue behind the previous phase's outbox traffic.
    const phases: string[] = [];
    const timed = async <T>(name: string, step: () => Promise<T>): Promise<T> => {
      const t0 = Date.now();
      const result = await step();
      phases.push(`${name} ${seconds(Date.now() - t0)}`);
      return result;
    };
    await timed("import", () => importProducts(broker, products, categoryIds));
    await timed("publish", () => drainOutboxes(broker, ["catalog"], "products"));
    await timed("stock", () => setStock(broker, products));
    await timed("publish", () => drainOutboxes(broker, ["inventory", "catalog"], "stock"));
    await analyzeCatalog(await infrastructureOf(broker).database("catalog"));

    const count = (status: string) => products.filter((p) => p.status === status).length;
    say(
      `Seeded ${products.length} products (${count("active")} active, ${count("draft")} draft, ` +
        `${count("archived")} archived) in ${categoryIds.size} categories from ` +
        `${new Set(products.map((p) => p.brand)).size} of ${demoBrands().length} brands; ` +
        `${products.filter((p) => p.stock > 0).length} in stock.`,
    );
    say(`${seconds(Date.now() - started)} in all (${phases.join(", ")}).`);
  } finally {
    await broker.stop();
  }
}

/** Creates the demo tree, parents first; categories already there (same slug) are kept. */
async function createCategories(broker: ServiceBroker): Promise<Map<string, string>> {
  interface Node {
    id: string;
    slug: string;
    children: Node[];
  }
  const ids = new Map<string, string>();
  const walk = (nodes: Node[]) =>
    nodes.forEach((n) => {
      ids.set(n.slug, n.id);
      walk(n.children);
    });
  walk(await broker.call<Node[], object>("catalog.listCategories", {}));
  for (const category of demoCategories()) {
    if (ids.has(category.slug)) continue;
    const created = await broker.call<Node, object>("catalog.createCategory", {
      name: category.name,
      slug: category.slug,
      position: category.position,
      ...(category.parent ? { parentId: ids.get(category.parent) } : {}),
    });
    ids.set(category.slug, created.id);
  }
  return ids;
}

async function importProducts(
  broker: ServiceBroker,
  products: DemoProduct[],
  categoryIds: Map<string, string>,
): Promise<void> {
  const bar = new cliProgress.SingleBar(
    { format: `${"products".padEnd(14)}[{bar}] {percentage}% | {value}/{total} | {duration}s` },
    cliProgress.Presets.shades_classic,
  );
  bar.start(products.length, 0);
  try {
    for (let i = 0; i < products.length; i += IMPORT_BATCH_MAX) {
      const batch = products.slice(i, i + IMPORT_BATCH_MAX).map((p) => ({
        sku: p.sku,
        name: p.name,
        description: p.description,
        brand: p.brand,
        categoryId: categoryIds.get(p.category)!,
        price: p.price,
        attributes: p.attributes,
        images: p.images,
        status: p.status,
      }));
      await broker.call(
        "catalog.importProducts",
        { products: batch },
        { timeout: CALL_TIMEOUT_MS },
      );
      bar.increment(batch.length);
    }
  } finally {
    bar.stop();
  }
}

/** Stock for every seeded product, by SKU (the catalog made the ids). Returns how many were set. */
async function setStock(broker: ServiceBroker, products: DemoProduct[]): Promise<number> {
  const idBySku = new Map<string, string>();
  let cursor: string | null = null;
  do {
    const page: { items: ProductSnapshot[]; nextCursor: string | null } = await broker.call(
      "catalog.export",
      { limit: EXPORT_PAGE, ...(cursor ? { cursor } : {}) },
      { timeout: CALL_TIMEOUT_MS },
    );
    for (const p of page.items) idBySku.set(p.sku, p.id);
    cursor = page.nextCursor;
  } while (cursor);

  const levels = products.flatMap((p) => {
    const productId = idBySku.get(p.sku);
    return productId ? [{ productId, onHand: p.stock }] : [];
  });
  const bar = new cliProgress.SingleBar(
    { format: `${"stock".padEnd(14)}[{bar}] {percentage}% | {value}/{total} | {duration}s` },
    cliProgress.Presets.shades_classic,
  );
  bar.start(levels.length, 0);
  try {
    for (let i = 0; i < levels.length; i += STOCK_BATCH) {
      const batch = levels.slice(i, i + STOCK_BATCH);
      await broker.call("inventory.setStockBulk", { levels: batch }, { timeout: CALL_TIMEOUT_MS });
      bar.increment(batch.length);
    }
  } finally {
    bar.stop();
  }
  return levels.length;
}

/** Waits until the services' outboxes have published every row. */
async function drainOutboxes(
  broker: ServiceBroker,
  services: string[],
  label: string,
): Promise<void> {
  const pending = async () => {
    const statuses = await Promise.all(
      services.map((s) =>
        broker.call<OutboxStatus, object>(`${s}.outboxStatus`, {}, { timeout: CALL_TIMEOUT_MS }),
      ),
    );
    return statuses.reduce((sum, s) => sum + s.unpublished, 0);
  };
  const first = await pending();
  if (!first) return;
  const bar = new cliProgress.SingleBar(
    {
      format: `${`${label} sent`.padEnd(14)}[{bar}] {percentage}% | {value}/{total} | {duration}s`,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(first, 0);
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  try {
    for (let left = first; left > 0; left = await pending()) {
      bar.update(Math.max(0, first - left));
      if (Date.now() > deadline)
        throw new Error(`${left} outbox rows still unpublished after ${seconds(DRAIN_TIMEOUT_MS)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    bar.update(first);
  } finally {
    bar.stop();
  }
}

if (require.main === module) {
  // ts-node maps every stack trace back to the TypeScript source, and Sequelize takes a
  // stack trace for every query: that alone cost a fifth of a seed's CPU. Plain traces do here.
  (Error as { prepareStackTrace?: unknown }).prepareStackTrace = undefined;
  let options: SeedOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  seed(options).then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`Seed failed: ${err.message}\n`);
      process.exit(1);
    },
  );
}
