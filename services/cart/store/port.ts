import type { Money } from "../../../lib/contracts/catalog";
import type { CartStatus } from "../../../lib/contracts/cart";

/**
 * The cart document store: MongoDB through Mongoose when MONGO_URL is set,
 * the moleculer-db memory adapter otherwise (ARCHITECTURE §2). One contract,
 * two adapters, one contract suite (test/contract/cart-store.contract.test.ts).
 *
 * Concurrency is optimistic: every write names the version it read, and a
 * write whose version no longer matches changes nothing and returns false;
 * the caller reloads and tries again. Nothing is ever merged field by field,
 * so two writers can never leave a mix of their changes.
 */

/** One line as stored: the price the shopper last saw, so a read can flag a change. */
export interface StoredCartLine {
  productId: string;
  quantity: number;
  /** Catalog price when the line was added or last changed. */
  seenUnitPrice: Money;
  addedAt: string;
}

export interface CartDocument {
  /** UUID. */
  id: string;
  /** null for a guest cart. */
  userId: string | null;
  /** SHA-256 (hex) of the guest token; the token itself is never stored. null for a user cart. */
  tokenHash: string | null;
  status: CartStatus;
  lines: StoredCartLine[];
  /** Increases by one on every write. */
  version: number;
  createdAt: string;
  updatedAt: string;
  /** Guest carts: when an untouched cart expires. null for user carts. */
  expiresAt: string | null;
  /** Set when the cart became an order (status "converted"). */
  orderId: string | null;
  /** Set when a guest cart was merged into this user cart (status "merged"). */
  mergedInto: string | null;
  /**
   * User carts: the guest carts already merged into this one, recorded in the
   * write that added their lines, so a repeated merge adds nothing twice.
   */
  mergedFrom: string[];
  /**
   * The cart's outbox: cart.events messages written in the same write as the
   * change they describe (a document store has no transaction spanning two
   * collections), removed once published.
   */
  pendingEvents: PendingCartEvent[];
}

/** A cart.events message waiting in its cart document to be published. */
export interface PendingCartEvent {
  /** The envelope id: consumers de-duplicate by it, so a republish keeps it. */
  id: string;
  type: string;
  payload: unknown;
  /** ISO 8601. */
  occurredAt: string;
  /** The request or message that caused the change. */
  correlationId?: string;
  /** Id of the message whose handling caused the change. */
  causationId?: string;
  /** Tracing: the span of the request that made the change. */
  trace?: { traceId: string; spanId: string; sampled: boolean };
}

export interface CartStore {
  /** Which adapter, for the one start-up log line and readiness. */
  readonly kind: "memory" | "mongodb";
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  /** Readiness probe: resolves when the store answers. */
  ping(): Promise<void>;

  /**
   * Stores a new cart. A user has at most one active cart: inserting a second
   * active cart for the same user rejects with DuplicateActiveCartError.
   */
  insert(cart: CartDocument): Promise<void>;
  findById(id: string): Promise<CartDocument | null>;
  /** The user's active cart, if any. */
  findActiveByUser(userId: string): Promise<CartDocument | null>;
  /**
   * Replaces the whole document if its stored version is still
   * `expectedVersion`; `next.version` must be `expectedVersion + 1`.
   * Resolves false (and writes nothing) when another write came first.
   */
  replaceIfVersion(next: CartDocument, expectedVersion: number): Promise<boolean>;
  /**
   * Marks active guest carts whose expiresAt is before `now` as "expired",
   * at most `limit` of them; resolves with the ids it expired.
   */
  expireGuestCarts(now: Date, limit: number): Promise<string[]>;
  /**
   * Removes the named entries from the cart's pendingEvents once they are
   * published, atomically and without touching `version` (so it never makes a
   * concurrent writer retry). Unknown ids and carts are ignored.
   */
  markEventsPublished(cartId: string, eventIds: string[]): Promise<void>;
  /**
   * Carts holding a pending event that occurred before `olderThan` (left
   * behind by a crash or a failed publish), at most `limit`, for the sweeper.
   */
  findWithPendingEvents(olderThan: Date, limit: number): Promise<CartDocument[]>;
}

export class DuplicateActiveCartError extends Error {
  constructor(userId: string) {
    super(`User ${userId} already has an active cart`);
    this.name = "DuplicateActiveCartError";
  }
}
