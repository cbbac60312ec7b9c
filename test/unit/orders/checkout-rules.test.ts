import type { ProductSnapshot } from "../../../lib/contracts/catalog";
import { mergeLines, normalizeAddress, priceLines } from "../../../services/orders/domain/checkout";
import {
  canonicalJson,
  idempotencyKeyFrom,
  requestHash,
} from "../../../services/orders/idempotency";

/** Pricing from the catalog, line merging, and what makes two checkout requests "the same". */
const field = (productId: string) => `lines[${productId}]`;

function product(
  id: string,
  amount: number,
  changes: Partial<ProductSnapshot> = {},
): ProductSnapshot {
  return {
    id,
    sku: `SKU-${id}`,
    slug: id,
    name: `Product ${id}`,
    description: "",
    brand: "Acme",
    categoryId: "c",
    categoryPath: ["c"],
    categoryName: "C",
    price: { amount, currency: "EUR" },
    attributes: {},
    images: [],
    status: "active",
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    version: 1,
    ...changes,
  };
}

describe("order lines", () => {
  it("merges lines of one product (ids compared in lower case), in the order first asked", () => {
    expect(
      mergeLines(
        [
          { productId: "B", quantity: 1 },
          { productId: "a", quantity: 2 },
          { productId: "b", quantity: 3 },
        ],
        field,
      ),
    ).toEqual([
      { productId: "b", quantity: 4 },
      { productId: "a", quantity: 2 },
    ]);
  });

  it("refuses more than 99 units of one product once merged, naming it", () => {
    expect(() =>
      mergeLines(
        [
          { productId: "a", quantity: 60 },
          { productId: "a", quantity: 40 },
        ],
        field,
      ),
    ).toThrow(
      expect.objectContaining({
        code: 400,
        data: { details: [expect.objectContaining({ field: "lines[a]", productId: "a" })] },
      }),
    );
  });

  it("prices every line from the catalog and totals them in minor units", () => {
    const priced = priceLines(
      [
        { productId: "a", quantity: 3 },
        { productId: "b", quantity: 1 },
      ],
      [product("b", 999), product("a", 1250)],
      field,
    );
    expect(priced).toEqual({
      currency: "EUR",
      subtotal: 3 * 1250 + 999,
      lines: [
        {
          productId: "a",
          sku: "SKU-a",
          name: "Product a",
          quantity: 3,
          unitPrice: { amount: 1250, currency: "EUR" },
          lineTotal: { amount: 3750, currency: "EUR" },
        },
        expect.objectContaining({ productId: "b", lineTotal: { amount: 999, currency: "EUR" } }),
      ],
    });
  });

  it("names products the catalog does not have or does not sell", () => {
    const attempt = () =>
      priceLines(
        [
          { productId: "a", quantity: 1 },
          { productId: "gone", quantity: 1 },
          { productId: "draft", quantity: 1 },
        ],
        [product("a", 100), product("draft", 100, { status: "draft" })],
        field,
      );
    expect(attempt).toThrow(
      expect.objectContaining({
        code: 400,
        data: {
          details: [
            { field: "lines[gone]", message: "no such product", productId: "gone" },
            { field: "lines[draft]", message: "is not for sale", productId: "draft" },
          ],
        },
      }),
    );
  });

  it("refuses products priced in different currencies", () => {
    expect(() =>
      priceLines(
        [
          { productId: "a", quantity: 1 },
          { productId: "b", quantity: 1 },
        ],
        [product("a", 100), product("b", 100, { price: { amount: 100, currency: "USD" } })],
        field,
      ),
    ).toThrow(
      expect.objectContaining({ code: 400, message: expect.stringContaining("one currency") }),
    );
  });

  it("keeps a shipping address trimmed, with the country in upper case and no empty line2", () => {
    expect(
      normalizeAddress({
        name: " Sam ",
        line1: "1 Main St ",
        line2: "  ",
        city: "Berlin",
        postalCode: "10115",
        country: "de",
      }),
    ).toEqual({
      name: "Sam",
      line1: "1 Main St",
      city: "Berlin",
      postalCode: "10115",
      country: "DE",
    });
  });
});

describe("idempotency keys", () => {
  it("hashes requests by content: key order does not matter, any value does", () => {
    const a = {
      lines: [{ productId: "p", quantity: 1 }],
      paymentMethod: { type: "card", token: "t" },
    };
    const reordered = {
      paymentMethod: { token: "t", type: "card" },
      lines: [{ quantity: 1, productId: "p" }],
    };
    expect(canonicalJson(reordered)).toBe(canonicalJson(a));
    expect(requestHash(reordered)).toBe(requestHash(a));
    expect(requestHash(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(requestHash({ ...a, lines: [{ productId: "p", quantity: 2 }] })).not.toBe(
      requestHash(a),
    );
    // Line order is part of the request.
    const two = [
      { productId: "p", quantity: 1 },
      { productId: "q", quantity: 1 },
    ];
    expect(requestHash({ lines: two })).not.toBe(requestHash({ lines: [...two].reverse() }));
    // An absent field and an undefined one are the same request.
    expect(requestHash({ ...a, cartId: undefined })).toBe(requestHash(a));
  });

  it("requires a key of 1–255 printable characters (400 naming the header)", () => {
    expect(idempotencyKeyFrom({ idempotencyKey: " order-42 " })).toBe("order-42");
    for (const idempotencyKey of [undefined, "", "   ", "x".repeat(256), "bad\u0007key", "clé"])
      expect(() => idempotencyKeyFrom({ idempotencyKey })).toThrow(
        expect.objectContaining({
          code: 400,
          data: { details: [expect.objectContaining({ field: "Idempotency-Key" })] },
        }),
      );
    expect(idempotencyKeyFrom({ idempotencyKey: "k".repeat(255) })).toHaveLength(255);
  });
});
