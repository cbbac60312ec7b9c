import type { Money } from "../../../lib/contracts/catalog";
import type { AppError } from "../../../lib/errors";
import {
  addLine,
  CartLimits,
  mergeLines,
  priceView,
  ProductForCart,
  removeLine,
  setQuantity,
} from "../../../services/cart/domain/cart";
import {
  issueGuestToken,
  parseGuestToken,
  tokenMatches,
} from "../../../services/cart/domain/guest-token";
import type { CartDocument, StoredCartLine } from "../../../services/cart/store";

const limits: CartLimits = { maxLines: 3, maxQuantity: 10 };
const NOW = "2025-03-01T10:00:00.000Z";
const eur = (amount: number): Money => ({ amount, currency: "EUR" });

function product(id: string, amount = 1000, extra: Partial<ProductForCart> = {}): ProductForCart {
  return { id, name: `Product ${id}`, price: eur(amount), status: "active", ...extra };
}

function line(productId: string, quantity: number, seen = eur(1000)): StoredCartLine {
  return { productId, quantity, seenUnitPrice: seen, addedAt: NOW };
}

/** The AppError `fn` throws, for asserting its type and details. */
function thrown(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    return err as AppError;
  }
  throw new Error("expected an error");
}

describe("cart lines", () => {
  it("adds a new line at the catalog price, or adds units to the product's line", () => {
    const one = addLine([], product("a", 1000), 2, limits, NOW);
    expect(one).toEqual([line("a", 2)]);
    const more = addLine(one, product("a", 1100), 3, limits, "2025-03-02T00:00:00.000Z");
    // Same line, quantities added, the price just seen remembered, first add time kept.
    expect(more).toEqual([{ ...line("a", 5, eur(1100)), addedAt: NOW }]);
  });

  it("refuses a product that is not for sale, naming productId", () => {
    for (const status of ["draft", "archived"] as const) {
      const err = thrown(() => addLine([], product("a", 1000, { status }), 1, limits, NOW));
      expect(err.type).toBe("VALIDATION");
      expect(err.data).toMatchObject({ details: [{ field: "productId" }] });
    }
  });

  it("refuses to go over the per-line limit instead of capping", () => {
    const err = thrown(() => addLine([line("a", 8)], product("a"), 3, limits, NOW));
    expect(err.data).toMatchObject({
      details: [{ field: "quantity", message: expect.stringContaining("at most 10") }],
    });
    expect(addLine([line("a", 8)], product("a"), 2, limits, NOW)[0].quantity).toBe(10);
    expect(thrown(() => addLine([], product("a"), 11, limits, NOW)).type).toBe("VALIDATION");
  });

  it("refuses a line more than the cart holds, and a product in another currency", () => {
    const full = [line("a", 1), line("b", 1), line("c", 1)];
    expect(thrown(() => addLine(full, product("d"), 1, limits, NOW)).data).toMatchObject({
      details: [{ field: "productId", message: expect.stringContaining("at most 3") }],
    });
    // A product already in a full cart still takes more units.
    expect(addLine(full, product("a"), 1, limits, NOW)[0].quantity).toBe(2);
    const dollars = product("d", 500, { price: { amount: 500, currency: "USD" } });
    expect(thrown(() => addLine([line("a", 1)], dollars, 1, limits, NOW)).data).toMatchObject({
      details: [{ field: "productId" }],
    });
  });

  it("sets a line's quantity and price seen; a missing line is a 404", () => {
    expect(setQuantity([line("a", 2)], product("a", 1200), "a", 7, limits)).toEqual([
      line("a", 7, eur(1200)),
    ]);
    expect(thrown(() => setQuantity([line("a", 2)], product("b"), "b", 1, limits)).type).toBe(
      "NOT_FOUND",
    );
    expect(thrown(() => setQuantity([line("a", 2)], product("a"), "a", 11, limits)).type).toBe(
      "VALIDATION",
    );
    expect(thrown(() => setQuantity([line("a", 2)], undefined, "a", 1, limits)).type).toBe(
      "VALIDATION",
    );
  });

  it("removes a line; removing one that is not there is a 404", () => {
    expect(removeLine([line("a", 1), line("b", 2)], "a")).toEqual([line("b", 2)]);
    expect(thrown(() => removeLine([line("a", 1)], "b")).type).toBe("NOT_FOUND");
  });
});

describe("merging a guest cart", () => {
  it("adds quantities, caps them at the line limit and reports what it changed", () => {
    const outcome = mergeLines(
      [line("a", 6, eur(900))],
      [line("a", 7, eur(1000)), line("b", 2)],
      limits,
    );
    expect(outcome.lines).toEqual([line("a", 10, eur(900)), line("b", 2)]);
    expect(outcome.added).toEqual([
      { productId: "a", quantity: 4 },
      { productId: "b", quantity: 2 },
    ]);
    expect(outcome.capped).toEqual([{ productId: "a", requested: 13, quantity: 10 }]);
    expect(outcome.skipped).toEqual([]);
  });

  it("leaves out lines that do not fit or are priced in another currency", () => {
    const outcome = mergeLines(
      [line("a", 1), line("b", 1)],
      [line("c", 1), line("d", 2), line("e", 1, { amount: 5, currency: "USD" })],
      limits,
    );
    expect(outcome.lines.map((l) => l.productId)).toEqual(["a", "b", "c"]);
    expect(outcome.skipped).toEqual([
      { productId: "d", quantity: 2, reason: "CART_FULL" },
      { productId: "e", quantity: 1, reason: "CURRENCY_MISMATCH" },
    ]);
  });

  it("adopts the guest's lines as they are into an empty cart", () => {
    const guest = [line("a", 2, eur(700))];
    expect(mergeLines([], guest, limits).lines).toEqual(guest);
  });
});

describe("the priced cart", () => {
  const cart = (lines: StoredCartLine[]): CartDocument => ({
    id: "cart-1",
    userId: null,
    tokenHash: "x",
    status: "active",
    lines,
    version: 4,
    createdAt: NOW,
    updatedAt: NOW,
    expiresAt: "2025-03-08T10:00:00.000Z",
    orderId: null,
    mergedInto: null,
    mergedFrom: [],
    pendingEvents: [],
  });

  it("prices lines at the current catalog price and totals them in minor units", () => {
    const view = priceView(
      cart([line("a", 2, eur(1000)), line("b", 3, eur(250))]),
      new Map([
        ["a", product("a", 1000)],
        ["b", product("b", 299)],
      ]),
      new Map([
        ["a", 10],
        ["b", 3],
      ]),
      "USD", // a cart with lines is in their currency, whatever the shop's
    );
    expect(view.items).toEqual([
      {
        productId: "a",
        name: "Product a",
        quantity: 2,
        unitPrice: eur(1000),
        lineTotal: eur(2000),
        priceChanged: false,
        available: true,
        availableQuantity: 10,
      },
      {
        productId: "b",
        name: "Product b",
        quantity: 3,
        unitPrice: eur(299),
        lineTotal: eur(897),
        priceChanged: true,
        previousUnitPrice: eur(250),
        available: true,
        availableQuantity: 3,
      },
    ]);
    expect(view).toMatchObject({
      id: "cart-1",
      subtotal: eur(2897),
      itemCount: 5,
      hasPriceChanges: true,
      hasUnavailableItems: false,
      version: 4,
    });
  });

  it("marks lines unavailable when stock is short or the product is no longer sold", () => {
    const view = priceView(
      cart([line("short", 4), line("archived", 1), line("gone", 1)]),
      new Map([
        ["short", product("short")],
        ["archived", product("archived", 1000, { status: "archived" })],
      ]),
      new Map([
        ["short", 3],
        ["archived", 50],
      ]),
      "EUR",
    );
    expect(view.items.map((i) => [i.productId, i.available, i.availableQuantity])).toEqual([
      ["short", false, 3],
      ["archived", false, 0],
      ["gone", false, 0],
    ]);
    // A product the catalog lost keeps the price last seen.
    expect(view.items[2]).toMatchObject({ unitPrice: eur(1000), priceChanged: false });
    expect(view.hasUnavailableItems).toBe(true);
  });

  it("shows an empty cart with a zero subtotal in the shop's currency", () => {
    expect(priceView(cart([]), new Map(), new Map(), "JPY")).toMatchObject({
      items: [],
      subtotal: { amount: 0, currency: "JPY" },
      itemCount: 0,
      hasPriceChanges: false,
      hasUnavailableItems: false,
    });
  });
});

describe("guest cart tokens", () => {
  const cartId = "0b6f7c1e-4a59-4f7e-9a57-0d2d3c1e5b10";

  it("carry the cart id and a 256-bit secret whose hash alone is stored", () => {
    const { token, tokenHash } = issueGuestToken(cartId);
    const presented = parseGuestToken(token)!;
    expect(presented.cartId).toBe(cartId);
    expect(Buffer.from(presented.secret, "base64url")).toHaveLength(32);
    expect(tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(token).not.toContain(tokenHash);
    expect(tokenMatches(presented, tokenHash)).toBe(true);
    expect(issueGuestToken(cartId).token).not.toBe(token);
  });

  it("do not match another cart's hash, and malformed ones are not tokens", () => {
    const mine = issueGuestToken(cartId);
    const other = issueGuestToken(cartId);
    expect(tokenMatches(parseGuestToken(mine.token)!, other.tokenHash)).toBe(false);
    expect(tokenMatches(parseGuestToken(mine.token)!, null)).toBe(false);
    for (const bad of [undefined, "", cartId, `${cartId}.short`, `not-a-uuid.${"a".repeat(43)}`])
      expect(parseGuestToken(bad)).toBeNull();
  });
});
