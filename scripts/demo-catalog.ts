/**
 * A realistic demo catalog, generated deterministically from a seed (the
 * same seed gives the same catalog): about 40 categories in two and three
 * levels, 60 brands, products named brand + adjective + noun + model with
 * descriptions, prices in minor units spread per category, facet attributes
 * per category, 1–3 image URLs, 95 % active, and stock levels with about
 * 10 % out of stock. Used by scripts/seed.ts; no I/O here.
 */
import type { ProductStatus } from "../lib/contracts/catalog";

export interface DemoCategory {
  slug: string;
  name: string;
  /** Slug of the parent, undefined for a root. */
  parent?: string;
  position: number;
}

export interface DemoProduct {
  sku: string;
  name: string;
  description: string;
  brand: string;
  /** Slug of its (leaf) category. */
  category: string;
  price: { amount: number; currency: string };
  attributes: Record<string, string>;
  images: string[];
  status: ProductStatus;
  /** Units on hand to give inventory (0 = out of stock). */
  stock: number;
}

/** mulberry32: a tiny, fast, well-distributed 32-bit PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const pick = <T>(rnd: Random, items: readonly T[]): T => items[Math.floor(rnd() * items.length)];
const int = (rnd: Random, min: number, max: number) => min + Math.floor(rnd() * (max - min + 1));

type AttributeSpec = Record<string, readonly string[]>;

interface Leaf {
  slug: string;
  name: string;
  /** SKU infix. */
  code: string;
  nouns: readonly string[];
  /** Price range in minor units. */
  price: [number, number];
  attributes: AttributeSpec;
  brands: readonly string[];
}

interface Branch {
  slug: string;
  name: string;
  leaves?: Leaf[];
  children?: Branch[];
}

const COLORS = ["black", "white", "silver", "blue", "red", "green", "grey", "beige", "navy"];
const SIZES = ["XS", "S", "M", "L", "XL", "XXL"];
const SHOE_SIZES = ["38", "39", "40", "41", "42", "43", "44", "45", "46"];

const BRANDS = {
  audio: ["Auralis", "Sonique", "Bassline", "Echoform", "Quietwave", "Tonehaus"],
  computing: ["Voltra", "Nimbus", "Kernelworks", "Pixelon", "Arcbyte", "Lumatek"],
  mobile: ["Novaphone", "Orbit", "Zenfon", "Celluna"],
  imaging: ["Optiq", "Brightlens", "Framewise"],
  kitchen: ["Kochwerk", "Brewmaster", "Culina", "Ferro & Flame", "Morning Co", "Vapora"],
  home: ["Nordvik", "Hjem", "Casa Lume", "Oakridge", "Linnea", "Softnest"],
  fashion: ["Threadline", "Urban Fable", "Marlow & Finch", "Kestrel", "Nomad Wear", "Azura"],
  shoes: ["Stridewell", "Peakstep", "Cobble & Co", "Runlight"],
  accessories: ["Tempora", "Carryall", "Vellum", "Brass & Bone"],
  sports: ["Trailhead", "Velocita", "Ironclad", "Summit Gear", "Flexform", "Wildspring"],
  toys: ["Brickly", "Playforge", "Meeple House", "Tiny Titans"],
  beauty: ["Lumière", "Botanica", "Dermalab", "Aurea", "Petal & Stone"],
} as const;

/** The 2–3 level tree, leaves carrying what their products look like. */
const TREE: Branch[] = [
  {
    slug: "electronics",
    name: "Electronics",
    children: [
      {
        slug: "audio",
        name: "Audio",
        leaves: [
          {
            slug: "headphones",
            name: "Headphones",
            code: "HP",
            nouns: ["Headphones", "Earbuds", "Over-Ear Headphones", "In-Ear Monitors"],
            price: [1999, 44999],
            attributes: { color: COLORS, connectivity: ["Bluetooth 5.3", "Wired", "USB-C"] },
            brands: BRANDS.audio,
          },
          {
            slug: "speakers",
            name: "Speakers",
            code: "SP",
            nouns: ["Speaker", "Soundbar", "Bookshelf Speakers", "Party Speaker"],
            price: [2999, 89999],
            attributes: { color: COLORS, power: ["10 W", "20 W", "50 W", "120 W"] },
            brands: BRANDS.audio,
          },
        ],
      },
      {
        slug: "computers",
        name: "Computers",
        leaves: [
          {
            slug: "laptops",
            name: "Laptops",
            code: "LT",
            nouns: ["Laptop", "Notebook", "Ultrabook", "Gaming Laptop"],
            price: [39999, 349999],
            attributes: {
              memory: ["8 GB", "16 GB", "32 GB", "64 GB"],
              storage: ["256 GB", "512 GB", "1 TB", "2 TB"],
              screen: ["13.3 in", "14 in", "15.6 in", "16 in"],
            },
            brands: BRANDS.computing,
          },
          {
            slug: "monitors",
            name: "Monitors",
            code: "MN",
            nouns: ["Monitor", "Curved Monitor", "4K Display", "Gaming Monitor"],
            price: [12999, 149999],
            attributes: {
              screen: ["24 in", "27 in", "32 in", "34 in"],
              resolution: ["1080p", "1440p", "4K"],
            },
            brands: BRANDS.computing,
          },
          {
            slug: "keyboards",
            name: "Keyboards & Mice",
            code: "KB",
            nouns: ["Keyboard", "Mechanical Keyboard", "Wireless Mouse", "Trackpad"],
            price: [1499, 24999],
            attributes: { color: COLORS, layout: ["US", "UK", "DE", "FR"] },
            brands: BRANDS.computing,
          },
        ],
      },
      {
        slug: "phones-tablets",
        name: "Phones & Tablets",
        leaves: [
          {
            slug: "smartphones",
            name: "Smartphones",
            code: "PH",
            nouns: ["Smartphone", "Phone", "Foldable Phone"],
            price: [14999, 179999],
            attributes: { color: COLORS, capacity: ["64 GB", "128 GB", "256 GB", "512 GB"] },
            brands: BRANDS.mobile,
          },
          {
            slug: "tablets",
            name: "Tablets",
            code: "TB",
            nouns: ["Tablet", "Drawing Tablet", "E-Reader"],
            price: [9999, 129999],
            attributes: { color: COLORS, capacity: ["32 GB", "64 GB", "128 GB", "256 GB"] },
            brands: BRANDS.mobile,
          },
        ],
      },
      {
        slug: "cameras",
        name: "Cameras",
        leaves: [
          {
            slug: "digital-cameras",
            name: "Digital Cameras",
            code: "CM",
            nouns: ["Mirrorless Camera", "Compact Camera", "Action Camera"],
            price: [19999, 299999],
            attributes: { color: ["black", "silver"], sensor: ["APS-C", "Full Frame", "1 in"] },
            brands: BRANDS.imaging,
          },
          {
            slug: "lenses",
            name: "Lenses",
            code: "LN",
            nouns: ["Prime Lens", "Zoom Lens", "Macro Lens"],
            price: [14999, 249999],
            attributes: { mount: ["E", "RF", "Z", "X"], focal_length: ["35 mm", "50 mm", "85 mm"] },
            brands: BRANDS.imaging,
          },
        ],
      },
    ],
  },
  {
    slug: "home-kitchen",
    name: "Home & Kitchen",
    children: [
      {
        slug: "kitchen-appliances",
        name: "Kitchen Appliances",
        leaves: [
          {
            slug: "coffee-machines",
            name: "Coffee Machines",
            code: "CF",
            nouns: ["Espresso Machine", "Coffee Maker", "Bean-to-Cup Machine", "Coffee Grinder"],
            price: [4999, 129999],
            attributes: { color: COLORS, capacity: ["0.5 l", "1 l", "1.5 l", "1.8 l"] },
            brands: BRANDS.kitchen,
          },
          {
            slug: "blenders",
            name: "Blenders",
            code: "BL",
            nouns: ["Blender", "Hand Blender", "Food Processor"],
            price: [2499, 49999],
            attributes: { color: COLORS, power: ["300 W", "600 W", "1000 W", "1500 W"] },
            brands: BRANDS.kitchen,
          },
          {
            slug: "kettles",
            name: "Kettles",
            code: "KT",
            nouns: ["Kettle", "Gooseneck Kettle", "Glass Kettle"],
            price: [1999, 14999],
            attributes: { color: COLORS, capacity: ["0.8 l", "1.2 l", "1.7 l"] },
            brands: BRANDS.kitchen,
          },
        ],
      },
      {
        slug: "cookware",
        name: "Cookware",
        leaves: [
          {
            slug: "pans",
            name: "Pans & Pots",
            code: "PN",
            nouns: ["Frying Pan", "Saucepan", "Dutch Oven", "Wok"],
            price: [1999, 24999],
            attributes: {
              material: ["cast iron", "stainless steel", "carbon steel", "ceramic"],
              diameter: ["20 cm", "24 cm", "28 cm"],
            },
            brands: BRANDS.kitchen,
          },
        ],
      },
      {
        slug: "furniture",
        name: "Furniture",
        leaves: [
          {
            slug: "chairs",
            name: "Chairs",
            code: "CH",
            nouns: ["Office Chair", "Dining Chair", "Lounge Chair", "Stool"],
            price: [4999, 89999],
            attributes: { color: COLORS, material: ["oak", "walnut", "steel", "fabric"] },
            brands: BRANDS.home,
          },
          {
            slug: "desks",
            name: "Desks",
            code: "DK",
            nouns: ["Desk", "Standing Desk", "Writing Desk"],
            price: [9999, 129999],
            attributes: {
              material: ["oak", "walnut", "birch", "steel"],
              width: ["100 cm", "140 cm", "180 cm"],
            },
            brands: BRANDS.home,
          },
        ],
      },
      {
        slug: "bedding",
        name: "Bedding",
        leaves: [
          {
            slug: "duvets",
            name: "Duvets & Pillows",
            code: "BD",
            nouns: ["Duvet", "Pillow", "Duvet Cover", "Weighted Blanket"],
            price: [1999, 29999],
            attributes: {
              material: ["cotton", "linen", "down", "wool"],
              size: ["single", "double", "king"],
            },
            brands: BRANDS.home,
          },
        ],
      },
    ],
  },
  {
    slug: "fashion",
    name: "Fashion",
    children: [
      {
        slug: "clothing",
        name: "Clothing",
        leaves: [
          {
            slug: "t-shirts",
            name: "T-Shirts",
            code: "TS",
            nouns: ["T-Shirt", "Long Sleeve Tee", "Polo Shirt"],
            price: [999, 5999],
            attributes: {
              color: COLORS,
              size: SIZES,
              material: ["cotton", "organic cotton", "linen"],
            },
            brands: BRANDS.fashion,
          },
          {
            slug: "jackets",
            name: "Jackets",
            code: "JK",
            nouns: ["Jacket", "Parka", "Rain Jacket", "Puffer Jacket"],
            price: [4999, 39999],
            attributes: {
              color: COLORS,
              size: SIZES,
              material: ["nylon", "wool", "down", "cotton"],
            },
            brands: BRANDS.fashion,
          },
          {
            slug: "dresses",
            name: "Dresses",
            code: "DR",
            nouns: ["Dress", "Maxi Dress", "Wrap Dress", "Shirt Dress"],
            price: [2999, 24999],
            attributes: {
              color: COLORS,
              size: SIZES,
              material: ["cotton", "viscose", "silk", "linen"],
            },
            brands: BRANDS.fashion,
          },
        ],
      },
      {
        slug: "shoes",
        name: "Shoes",
        leaves: [
          {
            slug: "sneakers",
            name: "Sneakers",
            code: "SN",
            nouns: ["Sneakers", "Running Shoes", "Trainers"],
            price: [4999, 21999],
            attributes: { color: COLORS, size: SHOE_SIZES },
            brands: BRANDS.shoes,
          },
          {
            slug: "boots",
            name: "Boots",
            code: "BT",
            nouns: ["Boots", "Chelsea Boots", "Hiking Boots"],
            price: [7999, 32999],
            attributes: {
              color: ["black", "brown", "tan"],
              size: SHOE_SIZES,
              material: ["leather", "suede"],
            },
            brands: BRANDS.shoes,
          },
        ],
      },
      {
        slug: "accessories",
        name: "Accessories",
        leaves: [
          {
            slug: "bags",
            name: "Bags",
            code: "BG",
            nouns: ["Backpack", "Tote Bag", "Messenger Bag", "Weekender"],
            price: [2999, 49999],
            attributes: { color: COLORS, material: ["leather", "canvas", "nylon"] },
            brands: BRANDS.accessories,
          },
          {
            slug: "watches",
            name: "Watches",
            code: "WT",
            nouns: ["Watch", "Chronograph", "Smartwatch", "Dive Watch"],
            price: [4999, 99999],
            attributes: {
              color: ["black", "silver", "gold", "rose gold"],
              strap: ["leather", "steel", "rubber"],
            },
            brands: BRANDS.accessories,
          },
        ],
      },
    ],
  },
  {
    slug: "sports-outdoors",
    name: "Sports & Outdoors",
    leaves: [
      {
        slug: "fitness",
        name: "Fitness",
        code: "FT",
        nouns: ["Yoga Mat", "Dumbbell Set", "Kettlebell", "Resistance Bands"],
        price: [999, 29999],
        attributes: { color: COLORS, weight: ["2 kg", "5 kg", "10 kg", "20 kg"] },
        brands: BRANDS.sports,
      },
      {
        slug: "cycling",
        name: "Cycling",
        code: "CY",
        nouns: ["Road Bike", "Bike Helmet", "Bike Light", "Cycling Jersey"],
        price: [1999, 249999],
        attributes: { color: COLORS, size: SIZES },
        brands: BRANDS.sports,
      },
      {
        slug: "camping",
        name: "Camping",
        code: "CP",
        nouns: ["Tent", "Sleeping Bag", "Camping Stove", "Hiking Backpack"],
        price: [2999, 69999],
        attributes: {
          color: ["green", "orange", "grey", "blue"],
          capacity: ["1 person", "2 persons", "4 persons"],
        },
        brands: BRANDS.sports,
      },
    ],
  },
  {
    slug: "toys-games",
    name: "Toys & Games",
    leaves: [
      {
        slug: "board-games",
        name: "Board Games",
        code: "GM",
        nouns: ["Board Game", "Card Game", "Strategy Game", "Party Game"],
        price: [999, 9999],
        attributes: { players: ["1–4", "2–4", "2–6", "3–8"], age: ["6+", "8+", "10+", "14+"] },
        brands: BRANDS.toys,
      },
      {
        slug: "building-sets",
        name: "Building Sets",
        code: "BS",
        nouns: ["Building Set", "Castle Kit", "Robot Kit", "Train Set"],
        price: [1499, 39999],
        attributes: { pieces: ["150", "500", "1200", "3000"], age: ["6+", "9+", "12+", "18+"] },
        brands: BRANDS.toys,
      },
    ],
  },
  {
    slug: "beauty",
    name: "Beauty",
    leaves: [
      {
        slug: "skincare",
        name: "Skincare",
        code: "SC",
        nouns: ["Face Cream", "Serum", "Cleanser", "Sunscreen"],
        price: [799, 8999],
        attributes: {
          skin_type: ["dry", "oily", "combination", "sensitive"],
          volume: ["30 ml", "50 ml", "100 ml"],
        },
        brands: BRANDS.beauty,
      },
      {
        slug: "fragrances",
        name: "Fragrances",
        code: "FR",
        nouns: ["Eau de Parfum", "Eau de Toilette", "Body Mist"],
        price: [1999, 19999],
        attributes: {
          volume: ["30 ml", "50 ml", "100 ml"],
          scent: ["floral", "woody", "citrus", "fresh"],
        },
        brands: BRANDS.beauty,
      },
    ],
  },
];

const ADJECTIVES = [
  "Pro",
  "Ultra",
  "Compact",
  "Classic",
  "Essential",
  "Premium",
  "Lite",
  "Max",
  "Studio",
  "Urban",
  "Eco",
  "Smart",
  "Travel",
  "Signature",
  "Elite",
];

const PRAISE = [
  "Built to last and easy to love.",
  "Designed in Europe, tested for daily use.",
  "A favourite of reviewers and customers alike.",
  "Thoughtful details make the difference.",
  "Quality materials, honest price.",
  "Comes with a two-year warranty.",
];

/** The categories, parents before children, positions in listing order. */
export function demoCategories(): DemoCategory[] {
  const out: DemoCategory[] = [];
  const walk = (branches: Branch[], parent?: string) =>
    branches.forEach((branch, position) => {
      out.push({ slug: branch.slug, name: branch.name, parent, position });
      if (branch.children) walk(branch.children, branch.slug);
      (branch.leaves ?? []).forEach((leaf, i) =>
        out.push({
          slug: leaf.slug,
          name: leaf.name,
          parent: branch.slug,
          position: (branch.children?.length ?? 0) + i,
        }),
      );
    });
  walk(TREE);
  return out;
}

/** Every brand that products may have. */
export function demoBrands(): string[] {
  return [...new Set(Object.values(BRANDS).flat())];
}

function leaves(): Leaf[] {
  const out: Leaf[] = [];
  const walk = (branches: Branch[]) =>
    branches.forEach((b) => {
      out.push(...(b.leaves ?? []));
      if (b.children) walk(b.children);
    });
  walk(TREE);
  return out;
}

/** `count` products priced in `currency` (amounts in its minor units), the same for the same seed. */
export function demoProducts(count: number, seed = 1, currency = "EUR"): DemoProduct[] {
  const rnd = prng(seed);
  const all = leaves();
  const products: DemoProduct[] = [];
  for (let i = 0; i < count; i++) {
    const leaf = all[i % all.length];
    const brand = pick(rnd, leaf.brands);
    const adjective = pick(rnd, ADJECTIVES);
    const noun = pick(rnd, leaf.nouns);
    const model = `${String.fromCharCode(65 + int(rnd, 0, 25))}${int(rnd, 1, 9) * 100 + int(rnd, 0, 9) * 10}`;
    const attributes: Record<string, string> = {};
    for (const [key, values] of Object.entries(leaf.attributes))
      attributes[key] = pick(rnd, values);
    const name = `${brand} ${adjective} ${noun} ${model}`;
    const imageCount = int(rnd, 1, 3);
    const statusRoll = rnd();
    products.push({
      sku: `${brand
        .replace(/[^A-Za-z]/g, "")
        .slice(0, 3)
        .toUpperCase()}-${leaf.code}-${String(i + 1).padStart(6, "0")}`,
      name,
      description: describe(rnd, name, noun, attributes),
      brand,
      category: leaf.slug,
      price: { amount: priceIn(rnd, leaf.price), currency },
      attributes,
      images: Array.from(
        { length: imageCount },
        (_, n) => `https://example.com/images/${leaf.slug}/${i + 1}-${n + 1}.jpg`,
      ),
      status: statusRoll < 0.95 ? "active" : statusRoll < 0.99 ? "draft" : "archived",
      stock: rnd() < 0.1 ? 0 : int(rnd, 1, 200),
    });
  }
  return products;
}

/** Log-uniform within the range (many cheap, few dear), ending in 99 like shop prices do. */
function priceIn(rnd: Random, [min, max]: [number, number]): number {
  const raw = Math.exp(Math.log(min) + rnd() * (Math.log(max) - Math.log(min)));
  return Math.max(99, Math.round(raw / 100) * 100 - 1);
}

function describe(
  rnd: Random,
  name: string,
  noun: string,
  attributes: Record<string, string>,
): string {
  const facts = Object.entries(attributes)
    .map(([key, value]) => `${key.replace(/_/g, " ")}: ${value}`)
    .join(", ");
  return `The ${name} is a ${noun.toLowerCase()} for every day. ${facts ? `${facts[0].toUpperCase()}${facts.slice(1)}. ` : ""}${pick(rnd, PRAISE)}`;
}
