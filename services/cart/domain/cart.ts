import type { CartLineView, CartView, MergeReport } from "../../../lib/contracts/cart";
import type { Money, ProductSnapshot } from "../../../lib/contracts/catalog";
import { AppError } from "../../../lib/errors";
import type { CartDocument, StoredCartLine } from "../store/port";

/**
 * The cart's rules, as pure functions over its lines: what may be added,
 * the per-line and per-cart limits, how a guest cart merges into a user's,
 * and how a stored cart reads with today's prices and stock. Every change
 * returns new lines; nothing here talks to a store or another service.
 */

export interface CartLimits {
  /** Most distinct products in a cart (CART_MAX_LINES). */
  maxLines: number;
  /** Most units of one product in a line (CART_MAX_QUANTITY). */
  maxQuantity: number;
}

/** What the cart needs to know about a product when a line changes. */
export type ProductForCart = Pick<ProductSnapshot, "id" | "name" | "price" | "status">;

/** Adds `quantity` units of an active product: to its line, or as a new line. */
export function addLine(
  lines: readonly StoredCartLine[],
  product: ProductForCart,
  quantity: number,
  limits: CartLimits,
  now: string,
): StoredCartLine[] {
  assertForSale(product);
  assertSameCurrency(lines, product);
  const existing = lines.find((line) => line.productId === product.id);
  const total = (existing?.quantity ?? 0) + quantity;
  if (total > limits.maxQuantity)
    throw invalid("quantity", tooMany(limits.maxQuantity, existing?.quantity ?? 0));
  if (existing)
    return replaceLine(lines, { ...existing, quantity: total, seenUnitPrice: product.price });
  if (lines.length >= limits.maxLines)
    throw invalid(
      "productId",
      `the cart is full: it holds at most ${limits.maxLines} different products`,
    );
  return [
    ...lines,
    { productId: product.id, quantity, seenUnitPrice: product.price, addedAt: now },
  ];
}

/** Sets a line's quantity (1..maxQuantity); the line must exist and its product be for sale. */
export function setQuantity(
  lines: readonly StoredCartLine[],
  product: ProductForCart | undefined,
  productId: string,
  quantity: number,
  limits: CartLimits,
): StoredCartLine[] {
  const existing = lines.find((line) => line.productId === productId);
  if (!existing) throw AppError.notFound("Cart item");
  if (!product) throw invalid("productId", "the product is no longer sold");
  assertForSale(product);
  assertSameCurrency(
    lines.filter((line) => line.productId !== productId),
    product,
  );
  if (quantity > limits.maxQuantity) throw invalid("quantity", tooMany(limits.maxQuantity, 0));
  return replaceLine(lines, { ...existing, quantity, seenUnitPrice: product.price });
}

export function removeLine(lines: readonly StoredCartLine[], productId: string): StoredCartLine[] {
  if (!lines.some((line) => line.productId === productId)) throw AppError.notFound("Cart item");
  return lines.filter((line) => line.productId !== productId);
}

export type MergeOutcome = Omit<MergeReport, "sourceCartId" | "alreadyMerged"> & {
  lines: StoredCartLine[];
};

/**
 * A guest cart's lines added into a user's: quantities of the same product
 * are summed and cut to the per-line limit; lines that do not fit (the cart
 * is full, or priced in another currency) are left out. Nothing is refused:
 * the shopper signed in and expects their cart, and the report says what
 * changed. A line keeps the price its shopper last saw (the user's line when
 * both had the product), so a change since then is still flagged.
 */
export function mergeLines(
  target: readonly StoredCartLine[],
  source: readonly StoredCartLine[],
  limits: CartLimits,
): MergeOutcome {
  const out: MergeOutcome = { lines: [...target], added: [], capped: [], skipped: [] };
  for (const line of source) {
    const index = out.lines.findIndex((l) => l.productId === line.productId);
    const existing = index >= 0 ? out.lines[index] : undefined;
    const currency = cartCurrency(out.lines);
    if (currency && currency !== line.seenUnitPrice.currency) {
      out.skipped.push({ ...quantityOf(line), reason: "CURRENCY_MISMATCH" });
      continue;
    }
    if (!existing && out.lines.length >= limits.maxLines) {
      out.skipped.push({ ...quantityOf(line), reason: "CART_FULL" });
      continue;
    }
    const requested = (existing?.quantity ?? 0) + line.quantity;
    const quantity = Math.min(requested, limits.maxQuantity);
    if (quantity < requested) out.capped.push({ productId: line.productId, requested, quantity });
    const added = quantity - (existing?.quantity ?? 0);
    if (added > 0) out.added.push({ productId: line.productId, quantity: added });
    if (existing) out.lines[index] = { ...existing, quantity };
    else out.lines.push({ ...line, quantity });
  }
  return out;
}

/** The currency every line of the cart is priced in (undefined while it is empty). */
export function cartCurrency(lines: readonly StoredCartLine[]): string | undefined {
  return lines[0]?.seenUnitPrice.currency;
}

/** Units the shop can sell now, per product id (inventory's `available`). */
export type Availability = ReadonlyMap<string, number>;

/**
 * The cart as a shopper reads it: each line at the catalog's current price,
 * flagged when that differs from the price last seen or when the product
 * cannot be bought in that quantity; totals computed here, in minor units.
 * A product the catalog no longer has keeps the price last seen and reads as
 * unavailable. An empty cart has no currency of its own: its zero subtotal
 * is in the shop's (`shopCurrency`).
 */
export function priceView(
  cart: CartDocument,
  products: ReadonlyMap<string, ProductForCart>,
  availability: Availability,
  shopCurrency: string,
): CartView {
  const items = cart.lines.map((line) =>
    lineView(line, products.get(line.productId), availability),
  );
  const currency = cartCurrency(cart.lines) ?? shopCurrency;
  return {
    id: cart.id,
    status: cart.status,
    userId: cart.userId,
    items,
    subtotal: { amount: sum(items.map((item) => item.lineTotal.amount)), currency },
    itemCount: sum(items.map((item) => item.quantity)),
    hasPriceChanges: items.some((item) => item.priceChanged),
    hasUnavailableItems: items.some((item) => !item.available),
    version: cart.version,
    updatedAt: cart.updatedAt,
    expiresAt: cart.expiresAt,
  };
}

function lineView(
  line: StoredCartLine,
  product: ProductForCart | undefined,
  availability: Availability,
): CartLineView {
  const unitPrice = product?.price ?? line.seenUnitPrice;
  const priceChanged = !sameMoney(unitPrice, line.seenUnitPrice);
  const forSale = product?.status === "active";
  const availableQuantity = forSale ? Math.max(0, availability.get(line.productId) ?? 0) : 0;
  return {
    productId: line.productId,
    name: product?.name ?? "",
    quantity: line.quantity,
    unitPrice,
    lineTotal: { amount: unitPrice.amount * line.quantity, currency: unitPrice.currency },
    priceChanged,
    ...(priceChanged ? { previousUnitPrice: line.seenUnitPrice } : {}),
    available: forSale && availableQuantity >= line.quantity,
    availableQuantity,
  };
}

function assertForSale(product: ProductForCart): void {
  if (product.status !== "active") throw invalid("productId", "the product is not for sale");
}

function assertSameCurrency(lines: readonly StoredCartLine[], product: ProductForCart): void {
  const currency = cartCurrency(lines);
  if (currency && currency !== product.price.currency)
    throw invalid(
      "productId",
      `the product is priced in ${product.price.currency} and this cart in ${currency}`,
    );
}

function replaceLine(lines: readonly StoredCartLine[], next: StoredCartLine): StoredCartLine[] {
  return lines.map((line) => (line.productId === next.productId ? next : line));
}

function tooMany(max: number, inCart: number): string {
  return inCart
    ? `at most ${max} units of a product per cart (${inCart} already in it)`
    : `must be at most ${max}`;
}

function invalid(field: string, message: string): AppError {
  return AppError.validation(`Invalid ${field}: ${message}`, [{ field, message }]);
}

function quantityOf(line: StoredCartLine) {
  return { productId: line.productId, quantity: line.quantity };
}

function sameMoney(a: Money, b: Money): boolean {
  return a.amount === b.amount && a.currency === b.currency;
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
