import type { ReservationLine } from "../../lib/contracts/catalog";
import { ID_PATTERN, MAX_LINE_QUANTITY } from "./domain/lines";
import { MAX_ON_HAND } from "./domain/stock";

/**
 * Request schemas (fastest-validator), `$$strict: true` everywhere: a field
 * not listed is a 400. Rules beyond types (merging duplicate lines, at most
 * 100 products, on hand ≥ reserved) live in domain/ so commands obey them too.
 */
const entityId = {
  type: "string",
  min: 1,
  max: 64,
  pattern: ID_PATTERN,
  patternMessage: "must be 1–64 letters, digits or . _ : -",
};
const onHand = { type: "number", integer: true, min: 0, max: MAX_ON_HAND };
/** Raw lines may repeat a product (they are merged); this bounds the work before that. */
const MAX_RAW_LINES = 1000;
export const MAX_LEVELS_PER_CALL = 1000;
/** The oldest recent level a reader may ask for (level-memo.ts). */
export const MAX_LEVEL_AGE_MS = 10_000;

export const reserveParams = {
  $$strict: true,
  reservationId: entityId,
  lines: {
    type: "array",
    min: 1,
    max: MAX_RAW_LINES,
    items: {
      type: "object",
      strict: true,
      props: {
        productId: entityId,
        quantity: { type: "number", integer: true, positive: true, max: MAX_LINE_QUANTITY },
      },
    },
  },
};
export interface ReserveParams {
  reservationId: string;
  lines: ReservationLine[];
}

export const reservationIdParams = { $$strict: true, reservationId: entityId };
export interface ReservationIdParams {
  reservationId: string;
}

export const releaseParams = {
  $$strict: true,
  reservationId: entityId,
  reason: { type: "string", trim: true, min: 1, max: 200, optional: true },
};
export interface ReleaseParams {
  reservationId: string;
  reason?: string;
}

export const levelsParams = {
  $$strict: true,
  productIds: { type: "array", max: MAX_LEVELS_PER_CALL, items: entityId },
  /** How old a level the caller accepts (0, the default: read the database). */
  maxAgeMs: { type: "number", integer: true, min: 0, max: MAX_LEVEL_AGE_MS, optional: true },
};
export interface LevelsParams {
  productIds: string[];
  maxAgeMs?: number;
}

export const setStockBulkParams = {
  $$strict: true,
  levels: {
    type: "array",
    max: MAX_LEVELS_PER_CALL,
    items: { type: "object", strict: true, props: { productId: entityId, onHand } },
  },
};
export interface SetStockBulkParams {
  levels: { productId: string; onHand: number }[];
}

/** PUT /products/:id/stock — `id` is the path parameter. */
export const setStockParams = { $$strict: true, id: entityId, onHand };
export interface SetStockParams {
  id: string;
  onHand: number;
}

export const productIdParams = { $$strict: true, id: entityId };
export interface ProductIdParams {
  id: string;
}
