import { randomUUID } from "node:crypto";
import { AppError } from "../../lib/errors";
import type { CartCache } from "./cart-cache";
import { issueGuestToken, parseGuestToken, tokenMatches } from "./domain/guest-token";
import { CartDocument, CartStore, DuplicateActiveCartError } from "./store";

/**
 * Whose cart a request is about. A signed-in user has one active cart,
 * created on first use; a guest has the cart their token opens. Anything
 * else — no token, a wrong one, another shopper's cart, a closed or expired
 * cart — is "Cart not found" (404), so a cart's existence is never revealed
 * to someone who does not hold it.
 */

/** The caller as the gateway describes them (ctx.meta). */
export interface Caller {
  userId?: string;
  /** X-Cart-Token. */
  cartToken?: string;
}

type ReadCart = (cartId: string) => Promise<CartDocument | null>;

export interface CartFinderOptions {
  store: CartStore;
  cache: CartCache;
  /** CART_GUEST_TTL_SEC in milliseconds. */
  guestTtlMs: number;
  now: () => Date;
}

export class CartFinder {
  constructor(private readonly opts: CartFinderOptions) {}

  /** The caller's open cart, read through the cache (a user's is created if they have none). */
  find(caller: Caller): Promise<CartDocument> {
    return this.findWith(caller, (id) => this.cached(id));
  }

  /**
   * The same, read from the store past the cache: a change starts from this
   * version (filling the cache here would only be undone by the write).
   */
  findForChange(caller: Caller): Promise<CartDocument> {
    return this.findWith(caller, (id) => this.opts.store.findById(id));
  }

  /** The guest cart a token opens, from the store, whatever its status (merging looks at it). */
  async guestCartOfToken(token: string | undefined): Promise<CartDocument> {
    const presented = parseGuestToken(token);
    const cart = presented ? await this.opts.store.findById(presented.cartId) : null;
    if (!presented || !cart || cart.userId !== null || !tokenMatches(presented, cart.tokenHash))
      throw cartNotFound();
    return cart;
  }

  /** The user's active cart from the store; two first requests at once still make one. */
  async ensureUserCart(userId: string): Promise<{ cart: CartDocument; created: boolean }> {
    const { store } = this.opts;
    const existing = await store.findActiveByUser(userId);
    if (existing) return { cart: existing, created: false };
    const cart = this.newCart(randomUUID(), userId, null);
    try {
      await store.insert(cart);
      return { cart, created: true };
    } catch (err) {
      if (!(err instanceof DuplicateActiveCartError)) throw err;
      const winner = await store.findActiveByUser(userId);
      if (!winner) throw err;
      return { cart: winner, created: false };
    }
  }

  /** A new guest cart, and the token that is the only way back to it. */
  async createGuestCart(): Promise<{ cart: CartDocument; token: string }> {
    const id = randomUUID();
    const { token, tokenHash } = issueGuestToken(id);
    const cart = this.newCart(id, null, tokenHash);
    await this.opts.store.insert(cart);
    return { cart, token };
  }

  /** Active, and (a guest cart) not past its expiry even if the sweeper has not been by yet. */
  isOpen(cart: CartDocument): boolean {
    return (
      cart.status === "active" &&
      (!cart.expiresAt || cart.expiresAt > this.opts.now().toISOString())
    );
  }

  private findWith(caller: Caller, read: ReadCart): Promise<CartDocument> {
    return caller.userId
      ? this.userCart(caller.userId, read)
      : this.guestCart(caller.cartToken, read);
  }

  private async guestCart(token: string | undefined, read: ReadCart): Promise<CartDocument> {
    const presented = parseGuestToken(token);
    const cart = presented ? await read(presented.cartId) : null;
    if (
      !presented ||
      !cart ||
      cart.userId !== null ||
      !tokenMatches(presented, cart.tokenHash) ||
      !this.isOpen(cart)
    )
      throw cartNotFound();
    return cart;
  }

  private async userCart(userId: string, read: ReadCart): Promise<CartDocument> {
    const { cache } = this.opts;
    const knownId = await cache.userCartId(userId);
    const known = knownId ? await read(knownId) : null;
    if (known && known.userId === userId && known.status === "active") return known;
    const { cart } = await this.ensureUserCart(userId);
    await Promise.all([cache.rememberUserCart(userId, cart.id), cache.fill(cart)]);
    return cart;
  }

  private async cached(cartId: string): Promise<CartDocument | null> {
    const hit = await this.opts.cache.get(cartId);
    if (hit) return hit;
    const cart = await this.opts.store.findById(cartId);
    if (cart) await this.opts.cache.fill(cart);
    return cart;
  }

  private newCart(id: string, userId: string | null, tokenHash: string | null): CartDocument {
    const now = this.opts.now();
    return {
      id,
      userId,
      tokenHash,
      status: "active",
      lines: [],
      version: 1,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      expiresAt: userId ? null : new Date(now.getTime() + this.opts.guestTtlMs).toISOString(),
      orderId: null,
      mergedInto: null,
      mergedFrom: [],
      pendingEvents: [],
    };
  }
}

export function cartNotFound(): AppError {
  return AppError.notFound("Cart");
}
