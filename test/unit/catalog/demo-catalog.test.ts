import { normalizeNewProduct } from "../../../services/catalog/domain/product";
import { isValidSlug } from "../../../services/catalog/domain/slug";
import { demoBrands, demoCategories, demoProducts } from "../../../scripts/demo-catalog";
import { parseArgs } from "../../../scripts/seed";

describe("demo catalog (npm run seed)", () => {
  const products = demoProducts(2000, 1);

  it("is the same for the same seed, and another for another", () => {
    expect(demoProducts(50, 1)).toEqual(products.slice(0, 50));
    expect(demoProducts(50, 2)).not.toEqual(products.slice(0, 50));
  });

  it("has about 40 categories in two or three levels, parents first", () => {
    const categories = demoCategories();
    expect(categories.length).toBeGreaterThanOrEqual(35);
    expect(categories.length).toBeLessThanOrEqual(50);
    const seen = new Map<string, number>();
    for (const c of categories) {
      expect(isValidSlug(c.slug)).toBe(true);
      const depth = c.parent ? seen.get(c.parent)! + 1 : 1;
      expect(depth).toBeLessThanOrEqual(3);
      seen.set(c.slug, depth);
    }
    expect(new Set(seen.keys()).size).toBe(categories.length);
    expect(Math.max(...seen.values())).toBe(3);
    const leaves = new Set(products.map((p) => p.category));
    for (const leaf of leaves) expect(seen.has(leaf)).toBe(true);
  });

  it("makes valid, unique, realistic products", () => {
    expect(demoBrands()).toHaveLength(60);
    expect(new Set(products.map((p) => p.sku)).size).toBe(products.length);
    for (const p of products) {
      expect(() =>
        normalizeNewProduct({ ...p, categoryId: "00000000-0000-4000-8000-000000000000" }),
      ).not.toThrow();
      expect(p.name.startsWith(p.brand)).toBe(true);
      expect(p.images.length).toBeGreaterThanOrEqual(1);
      expect(p.images.length).toBeLessThanOrEqual(3);
      expect(p.stock).toBeGreaterThanOrEqual(0);
      expect(p.stock).toBeLessThanOrEqual(200);
    }
    const share = (f: (p: (typeof products)[number]) => boolean) =>
      products.filter(f).length / products.length;
    expect(share((p) => p.status === "active")).toBeCloseTo(0.95, 1);
    expect(share((p) => p.stock === 0)).toBeCloseTo(0.1, 1);
    const laptops = products.filter((p) => p.category === "laptops").map((p) => p.price.amount);
    const tees = products.filter((p) => p.category === "t-shirts").map((p) => p.price.amount);
    expect(Math.min(...laptops)).toBeGreaterThan(Math.max(...tees));
  });

  it("reads its command line", () => {
    expect(parseArgs([])).toEqual({ products: 1000, clean: false, yes: false, seed: 1 });
    expect(parseArgs(["--products", "10000", "--clean", "--yes", "--seed", "7"])).toEqual({
      products: 10000,
      clean: true,
      yes: true,
      seed: 7,
    });
    expect(() => parseArgs(["--products", "many"])).toThrow(/whole number/);
    expect(() => parseArgs(["--force"])).toThrow(/Unknown argument/);
  });
});
