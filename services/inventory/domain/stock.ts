import type { StockLevel } from "../../../lib/contracts/catalog";
import { AppError } from "../../../lib/errors";
import { compareIds } from "./lines";

/**
 * A product's stock row: `onHand` units in the warehouse, `reserved` of them
 * promised to open reservations. Every statement keeps
 * 0 ≤ reserved ≤ onHand (and the database checks it too).
 */
export const MAX_ON_HAND = 1_000_000_000;

export interface StockRow {
  productId: string;
  onHand: number;
  reserved: number;
  version: number;
}

/** The level of a product; a product with no row has nothing (version 0). */
export function toStockLevel(productId: string, row?: StockRow | null): StockLevel {
  const onHand = row?.onHand ?? 0;
  const reserved = row?.reserved ?? 0;
  return {
    productId,
    onHand,
    reserved,
    available: Math.max(0, onHand - reserved),
    version: row?.version ?? 0,
  };
}

export function belowReserved(
  productId: string,
  onHand: number,
  reserved: number,
  field = "onHand",
): AppError {
  return AppError.conflict(
    `onHand (${onHand}) cannot be below the quantity reserved for open reservations (${reserved})`,
    [{ field, message: `must be at least ${reserved}`, productId, reserved }],
  );
}

export interface NewLevel {
  productId: string;
  onHand: number;
}

/** Bulk levels: one per product (a product named twice is ambiguous), in lock order. */
export function normalizeLevels(levels: readonly NewLevel[]): NewLevel[] {
  const seen = new Set<string>();
  levels.forEach((level, i) => {
    if (seen.has(level.productId))
      throw AppError.validation("A product is listed twice", [
        { field: `levels[${i}].productId`, message: `${level.productId} is listed twice` },
      ]);
    seen.add(level.productId);
  });
  return [...levels].sort((a, b) => compareIds(a.productId, b.productId));
}
