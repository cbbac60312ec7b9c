import { randomUUID } from "node:crypto";
import { Op } from "sequelize";
import { CategoryRecord, CategoryTree } from "../../../services/catalog/domain/category-tree";
import {
  buildProductQuery,
  MAX_BRANDS_PER_FILTER,
  parseBrandList,
} from "../../../services/catalog/domain/product-query";

const now = new Date();
const node = (slug: string, parentId: string | null = null): CategoryRecord => ({
  id: randomUUID(),
  parentId,
  slug,
  name: slug,
  position: 0,
  createdAt: now,
  updatedAt: now,
});
const audio = node("audio");
const headphones = node("headphones", audio.id);
const earbuds = node("earbuds", headphones.id);
const kitchen = node("kitchen");
const tree = new CategoryTree([audio, headphones, earbuds, kitchen]);

const query = (filters: Parameters<typeof buildProductQuery>[0]) =>
  buildProductQuery(filters, tree);

describe("product list filters → query", () => {
  it("shows only active products, newest first, 20 a page by default", () => {
    expect(query({})).toEqual({
      where: { status: "active" },
      order: [
        ["createdAt", "DESC"],
        ["id", "DESC"],
      ],
      page: 1,
      pageSize: 20,
      offset: 0,
      matchesNothing: false,
    });
    expect(query({ page: 3, pageSize: 50 })).toMatchObject({ page: 3, pageSize: 50, offset: 100 });
  });

  it("resolves a category (id or slug) to its whole subtree", () => {
    for (const key of [audio.id, "audio", " AUDIO "]) {
      const where = query({ category: key }).where as Record<string, { [Op.in]: string[] }>;
      expect(new Set(where.categoryId[Op.in])).toEqual(
        new Set([audio.id, headphones.id, earbuds.id]),
      );
    }
    expect(query({ category: "earbuds" }).where).toEqual({
      status: "active",
      categoryId: { [Op.in]: [earbuds.id] },
    });
    expect(query({ category: "nope" }).matchesNothing).toBe(true);
  });

  it("matches brands case-insensitively, one or a comma list", () => {
    expect(query({ brand: "Sony" }).where).toEqual({ status: "active", brandKey: "sony" });
    expect(query({ brand: "Sony, bose,,SONY " }).where).toEqual({
      status: "active",
      brandKey: { [Op.in]: ["sony", "bose"] },
    });
    expect(parseBrandList(" , ")).toEqual([]);
    expect(query({ brand: "," }).where).toEqual({ status: "active" });
    const tooMany = Array.from({ length: MAX_BRANDS_PER_FILTER + 1 }, (_, i) => `b${i}`).join(",");
    expect(() => query({ brand: tooMany })).toThrow(expect.objectContaining({ code: 400 }));
  });

  it("turns a price range into inclusive bounds on minor units", () => {
    expect(query({ minPrice: 1000, maxPrice: 5000 }).where).toEqual({
      status: "active",
      priceAmount: { [Op.gte]: 1000, [Op.lte]: 5000 },
    });
    expect(query({ minPrice: 0 }).where).toEqual({
      status: "active",
      priceAmount: { [Op.gte]: 0 },
    });
    expect(query({ maxPrice: 99 }).where).toEqual({
      status: "active",
      priceAmount: { [Op.lte]: 99 },
    });
    expect(() => query({ minPrice: 10, maxPrice: 9 })).toThrow(
      expect.objectContaining({
        code: 400,
        data: { details: [expect.objectContaining({ field: "minPrice" })] },
      }),
    );
  });

  it("filters on the local stock copy", () => {
    expect(query({ inStock: true }).where).toEqual({ status: "active", available: { [Op.gt]: 0 } });
    expect(query({ inStock: false }).where).toEqual({
      status: "active",
      available: { [Op.lte]: 0 },
    });
  });

  it("sorts with the id as tie-breaker", () => {
    expect(query({ sort: "price" }).order).toEqual([
      ["priceAmount", "ASC"],
      ["id", "ASC"],
    ]);
    expect(query({ sort: "-price" }).order).toEqual([
      ["priceAmount", "DESC"],
      ["id", "DESC"],
    ]);
    expect(query({ sort: "name" }).order).toEqual([
      ["name", "ASC"],
      ["id", "ASC"],
    ]);
    expect(query({ sort: "-name" }).order).toEqual([
      ["name", "DESC"],
      ["id", "DESC"],
    ]);
    expect(query({ sort: "newest" }).order).toEqual([
      ["createdAt", "DESC"],
      ["id", "DESC"],
    ]);
  });

  it("combines every filter", () => {
    expect(
      query({
        category: "headphones",
        brand: "a,b",
        minPrice: 1,
        maxPrice: 2,
        inStock: true,
        sort: "price",
      }).where,
    ).toEqual({
      status: "active",
      categoryId: { [Op.in]: expect.arrayContaining([headphones.id, earbuds.id]) },
      brandKey: { [Op.in]: ["a", "b"] },
      priceAmount: { [Op.gte]: 1, [Op.lte]: 2 },
      available: { [Op.gt]: 0 },
    });
  });
});
