import type { ReservationLine } from "../../../lib/contracts/catalog";
import { AppError, ErrorDetail } from "../../../lib/errors";

/**
 * The lines of a reservation: positive integer quantities of at most
 * MAX_DISTINCT_PRODUCTS products. Lines naming the same product are merged
 * (quantities added), and the result is sorted by product id — the order in
 * which every transaction locks stock rows, so two reservations never wait
 * on each other in a cycle.
 */
export const MAX_DISTINCT_PRODUCTS = 100;
/** Largest quantity of one product in one reservation (after merging). */
export const MAX_LINE_QUANTITY = 1_000_000;
/** Product and reservation (order) ids are the other services' ids: short, URL-safe strings. */
export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

export function normalizeLines(lines: readonly ReservationLine[]): ReservationLine[] {
  if (!Array.isArray(lines) || lines.length === 0)
    throw AppError.validation("A reservation needs at least one line", [
      { field: "lines", message: "must contain at least one line" },
    ]);
  const problems: ErrorDetail[] = [];
  const merged = new Map<string, number>();
  lines.forEach((line, i) => {
    const productId = line?.productId;
    const quantity = line?.quantity;
    if (typeof productId !== "string" || !ID_PATTERN.test(productId)) {
      problems.push({ field: `lines[${i}].productId`, message: "must be a product id" });
      return;
    }
    if (!Number.isInteger(quantity) || quantity <= 0) {
      problems.push({ field: `lines[${i}].quantity`, message: "must be a positive integer" });
      return;
    }
    merged.set(productId, (merged.get(productId) ?? 0) + quantity);
  });
  for (const [productId, quantity] of merged) {
    if (quantity > MAX_LINE_QUANTITY)
      problems.push({
        field: "lines",
        message: `quantity of ${productId} must be at most ${MAX_LINE_QUANTITY}`,
        productId,
      });
  }
  if (merged.size > MAX_DISTINCT_PRODUCTS)
    problems.push({
      field: "lines",
      message: `at most ${MAX_DISTINCT_PRODUCTS} different products per reservation`,
    });
  if (problems.length) throw AppError.validation("Invalid reservation lines", problems);
  return [...merged]
    .map(([productId, quantity]) => ({ productId, quantity }))
    .sort((a, b) => compareIds(a.productId, b.productId));
}

/** Code-unit order: the same in every process, whatever the locale or collation. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
