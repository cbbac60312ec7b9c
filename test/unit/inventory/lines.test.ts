import type { ReservationLine } from "../../../lib/contracts/catalog";
import {
  MAX_DISTINCT_PRODUCTS,
  MAX_LINE_QUANTITY,
  normalizeLines,
} from "../../../services/inventory/domain/lines";
import { normalizeLevels, toStockLevel } from "../../../services/inventory/domain/stock";

const fields = (fn: () => unknown): (string | undefined)[] => {
  try {
    fn();
  } catch (err) {
    const { code, data } = err as { code: number; data: { details: { field?: string }[] } };
    expect(code).toBe(400);
    return data.details.map((d) => d.field);
  }
  throw new Error("expected a validation error");
};

describe("reservation lines", () => {
  it("merges lines of the same product and sorts them by product id (the lock order)", () => {
    expect(
      normalizeLines([
        { productId: "p-b", quantity: 1 },
        { productId: "p-a", quantity: 2 },
        { productId: "p-b", quantity: 3 },
        { productId: "P-c", quantity: 1 },
      ]),
    ).toEqual([
      { productId: "P-c", quantity: 1 },
      { productId: "p-a", quantity: 2 },
      { productId: "p-b", quantity: 4 },
    ]);
  });

  it("refuses quantities that are not positive integers, naming each bad line", () => {
    const lines = [
      { productId: "a", quantity: 0 },
      { productId: "b", quantity: -1 },
      { productId: "c", quantity: 1.5 },
      { productId: "d", quantity: Number.NaN },
      { productId: "e", quantity: "2" as unknown as number },
      { productId: "f", quantity: 1 },
    ];
    expect(fields(() => normalizeLines(lines))).toEqual([
      "lines[0].quantity",
      "lines[1].quantity",
      "lines[2].quantity",
      "lines[3].quantity",
      "lines[4].quantity",
    ]);
  });

  it("refuses missing or malformed product ids", () => {
    expect(
      fields(() =>
        normalizeLines([
          { productId: "", quantity: 1 },
          { productId: "has space", quantity: 1 },
          { quantity: 1 } as ReservationLine,
          { productId: "x".repeat(65), quantity: 1 },
        ]),
      ),
    ).toEqual([
      "lines[0].productId",
      "lines[1].productId",
      "lines[2].productId",
      "lines[3].productId",
    ]);
  });

  it("refuses an empty reservation", () => {
    expect(fields(() => normalizeLines([]))).toEqual(["lines"]);
  });

  it(`allows ${MAX_DISTINCT_PRODUCTS} distinct products, counted after merging`, () => {
    const many = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ productId: `p-${i}`, quantity: 1 }));
    expect(normalizeLines(many(MAX_DISTINCT_PRODUCTS))).toHaveLength(MAX_DISTINCT_PRODUCTS);
    // 150 lines naming 100 products are fine once merged.
    expect(normalizeLines([...many(100), ...many(50)])).toHaveLength(100);
    expect(fields(() => normalizeLines(many(MAX_DISTINCT_PRODUCTS + 1)))).toEqual(["lines"]);
  });

  it("bounds the merged quantity of a product", () => {
    const half = Math.ceil(MAX_LINE_QUANTITY / 2) + 1;
    expect(
      fields(() =>
        normalizeLines([
          { productId: "p", quantity: half },
          { productId: "p", quantity: half },
        ]),
      ),
    ).toEqual(["lines"]);
  });
});

describe("stock levels", () => {
  it("reads a product with no row as nothing at version 0", () => {
    expect(toStockLevel("p-1")).toEqual({
      productId: "p-1",
      onHand: 0,
      reserved: 0,
      available: 0,
      version: 0,
    });
    expect(toStockLevel("p-1", { productId: "p-1", onHand: 5, reserved: 2, version: 3 })).toEqual({
      productId: "p-1",
      onHand: 5,
      reserved: 2,
      available: 3,
      version: 3,
    });
  });

  it("orders bulk levels by product id and refuses a product listed twice", () => {
    expect(
      normalizeLevels([
        { productId: "b", onHand: 1 },
        { productId: "a", onHand: 2 },
      ]).map((l) => l.productId),
    ).toEqual(["a", "b"]);
    expect(
      fields(() =>
        normalizeLevels([
          { productId: "a", onHand: 1 },
          { productId: "a", onHand: 2 },
        ]),
      ),
    ).toEqual(["levels[1].productId"]);
  });
});
