import type { ProductSnapshot } from "../../../lib/contracts/catalog";
import type { OrderLine, ShippingAddress } from "../../../lib/contracts/orders";
import { AppError, ErrorDetail } from "../../../lib/errors";

/**
 * Rules of turning a checkout request into order lines: quantities come from
 * the request (or the cart), everything else — name, sku, price, currency —
 * from the catalog at the moment of ordering. A client's price is never read.
 */
export const MAX_ORDER_LINES = 100;
export const MAX_LINE_QUANTITY = 99;

export interface RequestedLine {
  productId: string;
  quantity: number;
}

/** Where a requested line came from, to name it in a 400 (`lines[2].productId`, or `cartId`). */
export type LineField = (productId: string) => string;

/**
 * One line per product (ids compared as the catalog spells them, lower
 * case), quantities added, in the order first asked. Each merged quantity
 * must still be 1..99.
 */
export function mergeLines(lines: readonly RequestedLine[], field: LineField): RequestedLine[] {
  const merged = new Map<string, number>();
  for (const line of lines) {
    const id = line.productId.toLowerCase();
    merged.set(id, (merged.get(id) ?? 0) + line.quantity);
  }
  const problems: ErrorDetail[] = [];
  for (const [productId, quantity] of merged) {
    if (quantity > MAX_LINE_QUANTITY)
      problems.push({
        field: field(productId),
        message: `at most ${MAX_LINE_QUANTITY} units of one product per order (${quantity} asked)`,
        productId,
      });
  }
  if (merged.size > MAX_ORDER_LINES)
    problems.push({ field: "lines", message: `at most ${MAX_ORDER_LINES} different products` });
  if (merged.size === 0)
    problems.push({ field: "lines", message: "must name at least one product" });
  if (problems.length) throw AppError.validation("Invalid order lines", problems);
  return [...merged].map(([productId, quantity]) => ({ productId, quantity }));
}

export interface PricedLines {
  lines: OrderLine[];
  currency: string;
  subtotal: number;
}

/**
 * Prices each line from its catalog snapshot. Products the catalog does not
 * have or does not sell (draft, archived) are a 400 naming them; so are
 * products priced in different currencies (one order, one currency).
 */
export function priceLines(
  requested: readonly RequestedLine[],
  snapshots: readonly ProductSnapshot[],
  field: LineField,
): PricedLines {
  const byId = new Map(snapshots.map((s) => [s.id.toLowerCase(), s]));
  const problems: ErrorDetail[] = [];
  for (const { productId } of requested) {
    const product = byId.get(productId);
    if (!product) problems.push({ field: field(productId), message: "no such product", productId });
    else if (product.status !== "active")
      problems.push({ field: field(productId), message: "is not for sale", productId });
  }
  if (problems.length) throw AppError.validation("Some products cannot be ordered", problems);

  const lines = requested.map(({ productId, quantity }) => {
    const product = byId.get(productId)!;
    const { amount, currency } = product.price;
    return {
      productId: product.id,
      sku: product.sku,
      name: product.name,
      quantity,
      unitPrice: { amount, currency },
      lineTotal: { amount: amount * quantity, currency },
    };
  });
  const currencies = [...new Set(lines.map((l) => l.unitPrice.currency))];
  if (currencies.length > 1)
    throw AppError.validation("All products of an order must be priced in one currency", [
      { field: "lines", message: `products are priced in ${currencies.join(", ")}` },
    ]);
  const subtotal = lines.reduce((sum, l) => sum + l.lineTotal.amount, 0);
  if (!Number.isSafeInteger(subtotal))
    throw AppError.validation("The order total is too large", [
      { field: "lines", message: "reduce the quantities" },
    ]);
  return { lines, currency: currencies[0], subtotal };
}

/** A shipping address as the order keeps it: trimmed, country in upper case, no empty line2. */
export function normalizeAddress(address: ShippingAddress): ShippingAddress {
  const out: ShippingAddress = {
    name: address.name.trim(),
    line1: address.line1.trim(),
    city: address.city.trim(),
    postalCode: address.postalCode.trim(),
    country: address.country.trim().toUpperCase(),
  };
  const line2 = address.line2?.trim();
  if (line2) out.line2 = line2;
  return out;
}
