import type { Money } from "./catalog";

/**
 * Shapes that cross the cart service's boundary: what its REST routes answer
 * (ARCHITECTURE §11), what `cart.events` carries, and what the orders service
 * reads when it turns a cart into an order. Fields may be added; none may be
 * renamed.
 */

/** A cart line as every read shows it: current catalog price, never a client's. */
export interface CartLineView {
  productId: string;
  name: string;
  quantity: number;
  /** Current catalog price. */
  unitPrice: Money;
  /** unitPrice × quantity. */
  lineTotal: Money;
  /** The price differs from the one the shopper saw when the line last changed. */
  priceChanged: boolean;
  /** What the shopper saw when the line last changed. */
  previousUnitPrice?: Money;
  /** The product is active and its stock covers the quantity. */
  available: boolean;
  /** Units the shop can sell now (0 when the product is no longer active). */
  availableQuantity: number;
}

export type CartStatus = "active" | "merged" | "converted" | "expired";

export interface CartView {
  id: string;
  status: CartStatus;
  /** null for a guest cart. */
  userId: string | null;
  items: CartLineView[];
  /** Sum of the line totals, in the cart's currency. */
  subtotal: Money;
  /** Sum of the quantities. */
  itemCount: number;
  /** Some line's price changed since the shopper last touched it. */
  hasPriceChanges: boolean;
  /** Some line cannot be bought as it stands. */
  hasUnavailableItems: boolean;
  /** Increases by one on every change. */
  version: number;
  updatedAt: string;
  /** Guest carts: when the cart is dropped if nobody touches it. */
  expiresAt: string | null;
}

/** POST /cart answer: the only time the guest token is shown. */
export interface NewGuestCart extends CartView {
  token: string;
}

/** POST /cart/merge answer: the user's cart, and how the guest cart's lines went into it. */
export interface MergedCartView extends CartView {
  merge: MergeReport;
}

export interface MergeReport {
  /** The guest cart that was merged (and is now closed). */
  sourceCartId: string;
  /** Units added to the user's cart, per product. */
  added: { productId: string; quantity: number }[];
  /** Lines whose sum went over the per-line limit and were cut to it. */
  capped: { productId: string; requested: number; quantity: number }[];
  /** Guest lines left out: the cart had no room, or the product is priced in another currency. */
  skipped: { productId: string; quantity: number; reason: "CART_FULL" | "CURRENCY_MISMATCH" }[];
  /** The guest cart had been merged before: nothing was added again. */
  alreadyMerged: boolean;
}

/** What `cart.checkoutLines` gives the orders service: quantities only, prices come from the catalog. */
export interface CartCheckoutLines {
  cartId: string;
  userId: string;
  lines: { productId: string; quantity: number }[];
}

/** cart.events payloads (partition key = cart id). */
export interface CartItemChangedPayload {
  cartId: string;
  userId: string | null;
  productId: string;
  /** The line's quantity after the change (0 when removed). */
  quantity: number;
}

export interface CartMergedPayload {
  /** The user's cart that received the lines. */
  cartId: string;
  userId: string;
  /** The guest cart that was closed. */
  sourceCartId: string;
  lines: { productId: string; quantity: number }[];
}

export interface CartClearedPayload {
  cartId: string;
  userId: string | null;
}

export interface CartConvertedPayload {
  cartId: string;
  userId: string;
  orderId: string;
}
