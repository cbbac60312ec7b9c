/**
 * Shapes that cross service boundaries for the catalog, inventory and search:
 * message payloads on `product.events`, `inventory.commands` and
 * `inventory.events`, and what the internal actions return. Fields may be
 * added; none may be renamed (consumers in other services read them).
 */

/** Money is integer minor units with an ISO 4217 currency, never a float. */
export interface Money {
  amount: number;
  currency: string;
}

export type ProductStatus = "draft" | "active" | "archived";

/** A product as the catalog publishes it (ProductCreated / ProductUpdated payload). */
export interface ProductSnapshot {
  id: string;
  sku: string;
  slug: string;
  name: string;
  description: string;
  brand: string;
  categoryId: string;
  /** The category and all its ancestors, root first (a category filter matches any of them). */
  categoryPath: string[];
  categoryName: string;
  price: Money;
  /** Facet attributes, e.g. { color: "red", size: "M" }. */
  attributes: Record<string, string>;
  images: string[];
  status: ProductStatus;
  createdAt: string;
  updatedAt: string;
  /** Increases by one on every change of the product; consumers drop anything older than they hold. */
  version: number;
}

/** ProductArchived payload. */
export interface ProductArchivedPayload {
  id: string;
  version: number;
}

/** Availability of one product, as inventory knows it. */
export interface StockLevel {
  productId: string;
  onHand: number;
  reserved: number;
  /** onHand − reserved, never negative. */
  available: number;
  /** Increases by one on every change of this product's stock row (its own sequence, not the product's). */
  version: number;
}

/** StockChanged payload (on product.events, partition key = productId). */
export type StockChangedPayload = StockLevel;

export interface ReservationLine {
  productId: string;
  quantity: number;
}

/** ReserveStock command: all lines or none. The reservation id is the order id. */
export interface ReserveStockCommand {
  reservationId: string;
  lines: ReservationLine[];
}

/** CommitStock / ReleaseStock / ReturnStock commands. */
export interface ReservationCommand {
  reservationId: string;
  reason?: string;
}

/** RETURNED: the stock of a COMMITTED reservation was put back (an order cancelled after it was confirmed). */
export type ReservationStatus = "RESERVED" | "REJECTED" | "COMMITTED" | "RELEASED" | "RETURNED";

/** What every inventory.events message about a reservation carries. */
export interface ReservationOutcome {
  reservationId: string;
  status: ReservationStatus;
  lines: ReservationLine[];
  /** StockRejected: the lines that could not be had, with what was available. */
  shortages?: { productId: string; requested: number; available: number }[];
  /** StockReleased: why (e.g. "EXPIRED", "PAYMENT_FAILED", "CANCELLED"). */
  reason?: string;
}
