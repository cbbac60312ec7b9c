import { randomUUID } from "node:crypto";
import { CategoryTree } from "../../../services/catalog/domain/category-tree";
import {
  changedFields,
  MAX_ATTRIBUTES,
  MAX_IMAGES,
  NewProductInput,
  normalizeChanges,
  normalizeNewProduct,
  ProductRecord,
  toProductView,
  toSnapshot,
} from "../../../services/catalog/domain/product";

const categoryId = randomUUID();

function input(overrides: Partial<NewProductInput> = {}): NewProductInput {
  return {
    sku: "kt-100",
    name: "  Glass Kettle ",
    brand: " Kochwerk ",
    categoryId,
    price: { amount: 4999, currency: "EUR" },
    ...overrides,
  };
}

/** The fields a rule violation names (the error is a 400 AppError). */
function fieldsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    const e = err as { code: number; data: { details: { field: string }[] } };
    expect(e.code).toBe(400);
    return e.data.details.map((d) => d.field);
  }
  throw new Error("expected a validation error");
}

describe("product input rules", () => {
  it("normalises a new product and fills defaults", () => {
    expect(normalizeNewProduct(input({ attributes: { size: " L ", color: "red" } }))).toEqual({
      sku: "KT-100",
      name: "Glass Kettle",
      description: "",
      brand: "Kochwerk",
      categoryId,
      price: { amount: 4999, currency: "EUR" },
      attributes: { color: "red", size: "L" },
      images: [],
      status: "draft",
    });
    expect(normalizeNewProduct(input({ slug: "kettle" })).slug).toBe("kettle");
  });

  it("takes money only as whole minor units with an ISO currency", () => {
    expect(
      fieldsOf(() => normalizeNewProduct(input({ price: { amount: 12.5, currency: "EUR" } }))),
    ).toEqual(["price.amount"]);
    expect(
      fieldsOf(() => normalizeNewProduct(input({ price: { amount: -1, currency: "EUR" } }))),
    ).toEqual(["price.amount"]);
    expect(
      fieldsOf(() => normalizeNewProduct(input({ price: { amount: 1e13, currency: "EUR" } }))),
    ).toEqual(["price.amount"]);
    for (const currency of ["eur", "EURO", "E1R", ""])
      expect(
        fieldsOf(() => normalizeNewProduct(input({ price: { amount: 1, currency } }))),
      ).toEqual(["price.currency"]);
    expect(normalizeNewProduct(input({ price: { amount: 0, currency: "JPY" } })).price).toEqual({
      amount: 0,
      currency: "JPY",
    });
  });

  it("bounds attributes and images, and checks their shape", () => {
    const many = Object.fromEntries(
      Array.from({ length: MAX_ATTRIBUTES + 1 }, (_, i) => [`a${i}`, "x"]),
    );
    expect(fieldsOf(() => normalizeNewProduct(input({ attributes: many })))).toEqual([
      "attributes",
    ]);
    expect(
      fieldsOf(() => normalizeNewProduct(input({ attributes: { "Screen Size": "13" } }))),
    ).toEqual(["attributes.Screen Size"]);
    expect(fieldsOf(() => normalizeNewProduct(input({ attributes: { color: "  " } })))).toEqual([
      "attributes.color",
    ]);
    const images = Array.from({ length: MAX_IMAGES + 1 }, (_, i) => `https://example.com/${i}.jpg`);
    expect(fieldsOf(() => normalizeNewProduct(input({ images })))).toEqual(["images"]);
    expect(
      fieldsOf(() =>
        normalizeNewProduct(
          input({ images: ["https://example.com/a.jpg", "javascript:alert(1)", "/relative.jpg"] }),
        ),
      ),
    ).toEqual(["images[1]", "images[2]"]);
  });

  it("checks sku, name, slug, brand and status", () => {
    expect(fieldsOf(() => normalizeNewProduct(input({ sku: "has space" })))).toEqual(["sku"]);
    expect(fieldsOf(() => normalizeNewProduct(input({ sku: "-lead" })))).toEqual(["sku"]);
    expect(fieldsOf(() => normalizeNewProduct(input({ name: "   " })))).toEqual(["name"]);
    expect(fieldsOf(() => normalizeNewProduct(input({ slug: "Not-Valid" })))).toEqual(["slug"]);
    expect(fieldsOf(() => normalizeNewProduct(input({ brand: "" })))).toEqual(["brand"]);
    expect(fieldsOf(() => normalizeNewProduct(input({ status: "gone" as never })))).toEqual([
      "status",
    ]);
  });

  it("reports every problem at once, prefixed for batch items", () => {
    expect(
      fieldsOf(() =>
        normalizeNewProduct(
          input({ sku: "a b", price: { amount: -1, currency: "x" } }),
          "products[4].",
        ),
      ),
    ).toEqual(["products[4].sku", "products[4].price.amount", "products[4].price.currency"]);
  });

  it("checks only the fields a change names", () => {
    expect(normalizeChanges({})).toEqual({});
    expect(normalizeChanges({ sku: "abc", brand: " X " })).toEqual({ sku: "ABC", brand: "X" });
    expect(fieldsOf(() => normalizeChanges({ price: { amount: 1, currency: "usd" } }))).toEqual([
      "price.currency",
    ]);
  });
});

describe("product snapshots", () => {
  const now = new Date("2026-01-02T03:04:05.678Z");
  const root = {
    id: randomUUID(),
    parentId: null,
    slug: "home",
    name: "Home",
    position: 0,
    createdAt: now,
    updatedAt: now,
  };
  const leaf = { ...root, id: categoryId, parentId: root.id, slug: "kettles", name: "Kettles" };
  const tree = new CategoryTree([root, leaf]);
  const product: ProductRecord = {
    id: randomUUID(),
    ...normalizeNewProduct(input({ attributes: { color: "red" } })),
    slug: "glass-kettle",
    version: 3,
    available: 5,
    stockVersion: 9,
    createdAt: now,
    updatedAt: now,
  };

  it("carry the category path and name, and no stock internals", () => {
    const snapshot = toSnapshot(product, tree);
    expect(snapshot).toEqual({
      id: product.id,
      sku: "KT-100",
      slug: "glass-kettle",
      name: "Glass Kettle",
      description: "",
      brand: "Kochwerk",
      categoryId,
      categoryPath: [root.id, categoryId],
      categoryName: "Kettles",
      price: { amount: 4999, currency: "EUR" },
      attributes: { color: "red" },
      images: [],
      status: "draft",
      createdAt: "2026-01-02T03:04:05.678Z",
      updatedAt: "2026-01-02T03:04:05.678Z",
      version: 3,
    });
    expect(toProductView(product, tree).availability).toEqual({ available: 5, inStock: true });
    expect(toProductView({ ...product, available: 0 }, tree).availability).toEqual({
      available: 0,
      inStock: false,
    });
  });

  it("change only when a field really differs", () => {
    expect(
      changedFields(product, {
        price: { amount: 4999, currency: "EUR" },
        attributes: { color: "red" },
      }),
    ).toEqual({});
    expect(
      changedFields(product, { price: { amount: 5999, currency: "EUR" }, name: "Glass Kettle" }),
    ).toEqual({
      price: { amount: 5999, currency: "EUR" },
    });
    expect(changedFields(product, { images: ["https://example.com/a.jpg"] })).toEqual({
      images: ["https://example.com/a.jpg"],
    });
  });
});
