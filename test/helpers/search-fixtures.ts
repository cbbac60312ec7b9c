import type { ProductSnapshot, StockLevel } from "../../lib/contracts/catalog";
import type { NewProductInput } from "../../services/catalog/domain/product";
import type { SearchDocument } from "../../services/search/index-port";

/**
 * A small, realistic catalog for the search suites, and a generator of large
 * ones. Categories (ids are paths' last element):
 *   electronics > audio > headphones | speakers | audio-accessories
 *   electronics > computers > laptops
 *   home > kitchen
 *   apparel > shoes
 */
const CATEGORIES: Record<string, { path: string[]; name: string }> = {
  headphones: { path: ["electronics", "audio", "headphones"], name: "Headphones" },
  speakers: { path: ["electronics", "audio", "speakers"], name: "Speakers" },
  "audio-accessories": {
    path: ["electronics", "audio", "audio-accessories"],
    name: "Audio accessories",
  },
  laptops: { path: ["electronics", "computers", "laptops"], name: "Laptops" },
  kitchen: { path: ["home", "kitchen"], name: "Kitchen" },
  shoes: { path: ["apparel", "shoes"], name: "Shoes" },
};

interface Row {
  id: string;
  name: string;
  brand: string;
  category: keyof typeof CATEGORIES;
  price: number;
  description: string;
  attributes: Record<string, string>;
  day: number;
  stock: number;
}

const ROWS: Row[] = [
  {
    id: "p01",
    name: "Sony WH-1000XM5 Wireless Headphones",
    brand: "Sony",
    category: "headphones",
    price: 34999,
    description: "Industry-leading noise cancelling over-ear headphones with 30-hour battery life.",
    attributes: { color: "black" },
    day: 1,
    stock: 12,
  },
  {
    id: "p02",
    name: "Bose QuietComfort Ultra Headphones",
    brand: "Bose",
    category: "headphones",
    price: 42900,
    description: "Spatial audio and world-class noise cancellation in a comfortable fit.",
    attributes: { color: "white" },
    day: 2,
    stock: 4,
  },
  {
    id: "p03",
    name: "Apple AirPods Pro (2nd generation)",
    brand: "Apple",
    category: "headphones",
    price: 24900,
    description: "In-ear buds with active noise cancellation and a MagSafe charging case.",
    attributes: { color: "white" },
    day: 3,
    stock: 0,
  },
  {
    id: "p04",
    name: "JBL Flip 6 Portable Speaker",
    brand: "JBL",
    category: "speakers",
    price: 12999,
    description: "Waterproof bluetooth speaker with bold sound for the beach or the park.",
    attributes: { color: "blue" },
    day: 4,
    stock: 20,
  },
  {
    id: "p05",
    name: "Sonos Era 100 Smart Speaker",
    brand: "Sonos",
    category: "speakers",
    price: 24900,
    description: "Compact smart speaker with rich stereo sound and voice control.",
    attributes: { color: "black" },
    day: 5,
    stock: 7,
  },
  {
    id: "p06",
    name: "Dell XPS 13 Laptop",
    brand: "Dell",
    category: "laptops",
    price: 99900,
    description: "Thin and light 13-inch laptop with an edge-to-edge display.",
    attributes: { color: "silver" },
    day: 6,
    stock: 3,
  },
  {
    id: "p07",
    name: "Lenovo ThinkPad X1 Carbon",
    brand: "Lenovo",
    category: "laptops",
    price: 149900,
    description: "Business ultrabook with a legendary keyboard and all-day battery.",
    attributes: { color: "black" },
    day: 7,
    stock: 0,
  },
  {
    id: "p08",
    name: "Breville Barista Express Espresso Machine",
    brand: "Breville",
    category: "kitchen",
    price: 69995,
    description: "Grind, dose and pull café-quality espresso at home.",
    attributes: { color: "silver" },
    day: 8,
    stock: 5,
  },
  {
    id: "p09",
    name: "KitchenAid Artisan Stand Mixer",
    brand: "KitchenAid",
    category: "kitchen",
    price: 44999,
    description: "Tilt-head stand mixer with a 5-quart bowl and ten speeds.",
    attributes: { color: "red" },
    day: 9,
    stock: 9,
  },
  {
    id: "p10",
    name: "Nike Pegasus 40 Running Shoes",
    brand: "Nike",
    category: "shoes",
    price: 12999,
    description: "Responsive cushioning for everyday running.",
    attributes: { color: "red", size: "42" },
    day: 10,
    stock: 15,
  },
  {
    id: "p11",
    name: "Adidas Ultraboost Light Running Shoes",
    brand: "Adidas",
    category: "shoes",
    price: 18999,
    description: "Lightweight running shoes with energy-returning boost foam.",
    attributes: { color: "black", size: "43" },
    day: 11,
    stock: 0,
  },
  {
    id: "p12",
    name: "Headphone Stand",
    brand: "Grovemade",
    category: "audio-accessories",
    price: 2400,
    description: "Keeps your headphones tidy. <b>Solid walnut</b> & aluminium.",
    attributes: { color: "brown" },
    day: 12,
    stock: 30,
  },
];

function snapshotOf(row: Row, version = 1): ProductSnapshot {
  const category = CATEGORIES[row.category];
  const createdAt = new Date(Date.UTC(2025, 0, row.day, 12)).toISOString();
  return {
    id: row.id,
    sku: skuOf(row.id),
    slug: row.name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/(^-|-$)/g, ""),
    name: row.name,
    description: row.description,
    brand: row.brand,
    categoryId: row.category,
    categoryPath: category.path,
    categoryName: category.name,
    price: { amount: row.price, currency: "USD" },
    attributes: row.attributes,
    images: [],
    status: "active",
    createdAt,
    updatedAt: createdAt,
    version,
  };
}

/** The fixture catalog as the catalog publishes it. */
export const CATALOG: readonly ProductSnapshot[] = ROWS.map((r) => snapshotOf(r));

/** Its stock, as inventory reports it (version 1 each). */
export const STOCK: readonly StockLevel[] = ROWS.map((r) => ({
  productId: r.id,
  onHand: r.stock,
  reserved: 0,
  available: r.stock,
  version: 1,
}));

export function byId(id: string): ProductSnapshot {
  const p = CATALOG.find((c) => c.id === id);
  if (!p) throw new Error(`no fixture product ${id}`);
  return p;
}

// ---- loading the fixtures into the real catalog and inventory

/** Names of the categories that are only ever parents (CATEGORIES names the leaves). */
const PARENT_NAMES: Record<string, string> = {
  electronics: "Electronics",
  audio: "Audio",
  computers: "Computers",
  home: "Home",
  apparel: "Apparel",
};

/**
 * Every fixture category, parents before children, for creating them in the
 * real catalog (POST /categories), which gives them ids of its own: `key` is
 * what CATALOG's categoryId and categoryPath say, and makes a good slug.
 */
export const CATEGORY_TREE: readonly { key: string; name: string; parent?: string }[] = (() => {
  const tree: { key: string; name: string; parent?: string }[] = [];
  for (const { path, name } of Object.values(CATEGORIES)) {
    path.forEach((key, i) => {
      if (tree.some((c) => c.key === key)) return;
      const isLeaf = i === path.length - 1;
      tree.push({ key, name: isLeaf ? name : PARENT_NAMES[key], parent: path[i - 1] });
    });
  }
  return tree;
})();

/** The SKU a fixture (p01…) or generated (g000000…) product is created with; it finds the product again. */
export function skuOf(fixtureId: string): string {
  return `SKU-${fixtureId.toUpperCase()}`;
}

/** The fixture (or generated) id behind a SKU made by skuOf, or undefined. */
export function fixtureIdOfSku(sku: string): string | undefined {
  return /^SKU-[PG]\d+$/.test(sku) ? sku.slice(4).toLowerCase() : undefined;
}

/**
 * What the real catalog takes to create a fixture or generated product
 * (catalog.importProducts, POST /products): `categoryId` is the real id of
 * its category; id, slug, version and timestamps are the catalog's to give.
 */
export function productInput(
  p: Pick<SearchDocument, "id" | "name" | "description" | "brand" | "price" | "attributes">,
  categoryId: string,
): NewProductInput {
  return {
    sku: skuOf(p.id),
    name: p.name,
    description: p.description,
    brand: p.brand,
    categoryId,
    price: { ...p.price },
    attributes: { ...p.attributes },
    status: "active",
  };
}

/** A search document for tests (active, version 1 unless overridden). */
export function doc(id: string, overrides: Partial<SearchDocument> = {}): SearchDocument {
  const p = byId(id);
  return {
    id: p.id,
    slug: p.slug,
    name: p.name,
    description: p.description,
    brand: p.brand,
    categoryId: p.categoryId,
    categoryPath: p.categoryPath,
    categoryName: p.categoryName,
    price: p.price,
    attributes: p.attributes,
    status: "active",
    createdAt: p.createdAt,
    productVersion: p.version,
    ...overrides,
  };
}

export const CATALOG_DOCS: readonly SearchDocument[] = CATALOG.map((p) => doc(p.id));

/** `n` generated products (deterministic), for timing queries on a catalog of realistic size. */
export function generatedCatalog(n: number): { docs: SearchDocument[]; stock: StockLevel[] } {
  const brands = ["Sony", "Bose", "Apple", "Samsung", "Logitech", "Anker", "JBL", "Philips"]
    .concat(["Dell", "Lenovo", "Nike", "Adidas", "Puma", "Canon", "Nikon", "Dyson", "Breville"])
    .concat(["KitchenAid", "Ikea", "Levi's", "Patagonia", "Garmin", "Fitbit", "Asus", "Acer"]);
  const nouns = ["headphones", "speaker", "laptop", "keyboard", "mouse", "monitor", "camera"]
    .concat(["lens", "jacket", "shoes", "blender", "kettle", "lamp", "chair", "desk", "backpack"])
    .concat(["watch", "charger", "cable", "tablet", "phone", "coffee grinder", "vacuum"])
    .concat(["toaster", "jeans", "hoodie", "sneakers", "router", "microphone", "projector"]);
  const adjectives = ["wireless", "portable", "ergonomic", "compact", "premium", "classic"]
    .concat(["smart", "waterproof", "lightweight", "noise cancelling", "bluetooth", "slim"])
    .concat(["mechanical", "ultra", "pro", "mini", "running", "gaming", "vintage", "organic"])
    .concat(["insulated", "foldable", "rechargeable", "stainless", "ceramic", "merino"]);
  const phrases = ["for everyday use", "built to last", "with a two-year warranty"]
    .concat(["designed in Sweden", "loved by reviewers", "easy to clean", "travel ready"])
    .concat(["with fast charging", "in recycled materials", "for small spaces"]);
  const colors = ["black", "white", "red", "blue", "green", "grey", "silver", "brown"];
  const sizes = ["S", "M", "L", "XL"];
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)];
  const docs: SearchDocument[] = [];
  const stock: StockLevel[] = [];
  for (let i = 0; i < n; i++) {
    const noun = pick(nouns);
    const brand = pick(brands);
    const leaf = nouns.indexOf(noun);
    const id = `g${String(i).padStart(6, "0")}`;
    const adjective = pick(adjectives);
    docs.push({
      id,
      slug: `${brand}-${noun}-${i}`.toLowerCase().replace(/[^a-z0-9]+/g, "-"),
      name: `${brand} ${adjective} ${pick(adjectives)} ${noun} ${100 + (i % 900)}`,
      description:
        `A ${adjective} ${noun} by ${brand}, ${pick(phrases)}. ` +
        `${pick(adjectives)} design in ${pick(colors)}, ${pick(phrases)}; pairs well with a ${pick(nouns)}.`,
      brand,
      categoryId: `leaf-${leaf}`,
      categoryPath: [`root-${leaf % 4}`, `mid-${leaf % 10}`, `leaf-${leaf}`],
      categoryName: `${noun[0].toUpperCase()}${noun.slice(1)}`,
      price: { amount: 100 + Math.floor(random() * 120_000), currency: "USD" },
      attributes: { color: pick(colors), size: pick(sizes) },
      status: "active",
      createdAt: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString(),
      productVersion: 1,
    });
    const available = Math.floor(random() * 4) === 0 ? 0 : Math.floor(random() * 50);
    stock.push({ productId: id, onHand: available, reserved: 0, available, version: 1 });
  }
  return { docs, stock };
}
