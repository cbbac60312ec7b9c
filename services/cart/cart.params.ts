/**
 * Request schemas (fastest-validator). `$$strict: "remove"` drops fields that
 * are not listed, so whatever else a client sends — a `price`, a `unitPrice`,
 * a `version` — never reaches a use case: prices always come from the
 * catalog. Limits that come from configuration (quantity per line, lines per
 * cart) are checked by domain/cart.ts, which names the field in its 400.
 */
const productId = { type: "uuid" };
const quantity = { type: "number", integer: true, positive: true };

export const noParams = { $$strict: "remove" };

export const addItemParams = { $$strict: "remove", productId, quantity };
export interface AddItemParams {
  productId: string;
  quantity: number;
}

/** PATCH /cart/items/:productId — 0 is refused: removing a line is DELETE. */
export const setQuantityParams = { $$strict: "remove", productId, quantity };
export type SetQuantityParams = AddItemParams;

export const productIdParams = { $$strict: "remove", productId };
export interface ProductIdParams {
  productId: string;
}

/** Internal (orders service). */
export const checkoutLinesParams = {
  $$strict: true,
  cartId: { type: "uuid" },
  userId: { type: "string", min: 1, max: 64 },
};
export interface CheckoutLinesParams {
  cartId: string;
  userId: string;
}
