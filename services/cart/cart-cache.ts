import type { KeyValueStore } from "../../lib/infra/kv/port";
import type { CartDocument } from "./store";

interface Log {
  warn(...args: unknown[]): void;
}

/**
 * The read cache of cart documents, in the key-value port (Redis when
 * REDIS_URL is set): `cart:<id>` holds the document, `cart:user:<userId>`
 * the id of the user's active cart. Reads fill it on a miss; every write
 * drops the cart's key once the store has the change. Writes never read it:
 * their optimistic version always comes from the store.
 *
 * The race it leaves: a reader that missed, read the store, and fills the
 * key just after a writer dropped it puts back the version before the write.
 * setIfAbsent keeps it from overwriting anything newer, and the TTL
 * (CART_CACHE_TTL_SEC) bounds how long such a copy can be read; writes are
 * unaffected because they check versions against the store.
 *
 * The cache is an optimisation: if the key-value store fails, reads go to the
 * cart store and the failure is logged. A TTL of 0 turns it off.
 */
export class CartCache {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly ttlMs: number,
    private readonly log: Log,
  ) {}

  async get(cartId: string): Promise<CartDocument | null> {
    const raw = await this.quietly("read", () => this.kv.get(cartKey(cartId)));
    return raw ? (JSON.parse(raw) as CartDocument) : null;
  }

  /** Caches a document read from the store, unless a copy is there already. */
  async fill(cart: CartDocument): Promise<void> {
    if (this.ttlMs <= 0) return;
    // Pending events are the writer's business; readers do not need them.
    const value = JSON.stringify({ ...cart, pendingEvents: [] });
    await this.quietly("fill", () => this.kv.setIfAbsent(cartKey(cart.id), value, this.ttlMs));
  }

  async drop(cartId: string): Promise<void> {
    await this.quietly("drop", () => this.kv.del(cartKey(cartId)));
  }

  /** The id of the user's active cart, as last read (the caller checks the cart still is). */
  userCartId(userId: string): Promise<string | null> {
    return this.quietly("read", () => this.kv.get(userKey(userId)));
  }

  async rememberUserCart(userId: string, cartId: string): Promise<void> {
    if (this.ttlMs <= 0) return;
    await this.quietly("fill", () => this.kv.set(userKey(userId), cartId, this.ttlMs));
  }

  async forgetUserCart(userId: string): Promise<void> {
    await this.quietly("drop", () => this.kv.del(userKey(userId)));
  }

  private async quietly<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
    try {
      return await fn();
    } catch (err) {
      this.log.warn(`Cart cache ${what} failed; using the cart store`, (err as Error).message);
      return null;
    }
  }
}

/** The key of a cart's cached document (in the key-value store's namespace). */
export function cartKey(cartId: string): string {
  return `cart:${cartId}`;
}

function userKey(userId: string): string {
  return `cart:user:${userId}`;
}
