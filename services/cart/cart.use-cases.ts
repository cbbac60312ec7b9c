import type {
  CartCheckoutLines,
  CartView,
  MergedCartView,
  NewGuestCart,
} from "../../lib/contracts/cart";
import { AppError } from "../../lib/errors";
import type { MessageLineage } from "../../lib/messaging/outbox";
import { EventTypes } from "../../lib/messaging/topics";
import type { CartCache } from "./cart-cache";
import type { CartEvent } from "./cart-events";
import { type Caller, CartFinder, cartNotFound } from "./cart-finder";
import type { CartWriter, ChangeResult } from "./cart-writer";
import {
  addLine,
  Availability,
  CartLimits,
  mergeLines,
  MergeOutcome,
  priceView,
  ProductForCart,
  removeLine,
  setQuantity,
} from "./domain/cart";
import type { CartDocument, CartStore, StoredCartLine } from "./store";

/**
 * What shoppers do with carts, as short stories: find the caller's cart
 * (cart-finder.ts), apply a rule of domain/cart.ts to it through the
 * optimistic writer (cart-writer.ts), and answer with the cart priced from
 * the catalog and inventory.
 */

/** The catalog and inventory as a cart reads them (prices, status, stock). */
export interface Shop {
  /** The products the catalog has among `ids` (unknown ids are left out). */
  products(ids: string[]): Promise<ProductForCart[]>;
  /** Units available now, per product id. */
  availability(ids: string[]): Promise<Availability>;
}

/** What a request brings besides its parameters. */
export interface RequestScope {
  shop: Shop;
  /** Correlation and causation of the events the change emits. */
  lineage: MessageLineage;
}

export interface CartUseCasesOptions {
  store: CartStore;
  cache: CartCache;
  writer: CartWriter;
  limits: CartLimits;
  /** The currency of an empty cart's zero subtotal (SHOP_CURRENCY). */
  shopCurrency: string;
  guestTtlMs: number;
  now?: () => Date;
}

const EXPIRY_BATCH = 500;

export class CartUseCases {
  private readonly store: CartStore;
  private readonly cache: CartCache;
  private readonly writer: CartWriter;
  private readonly limits: CartLimits;
  private readonly shopCurrency: string;
  private readonly now: () => Date;
  private readonly finder: CartFinder;

  constructor(opts: CartUseCasesOptions) {
    ({
      store: this.store,
      cache: this.cache,
      writer: this.writer,
      limits: this.limits,
      shopCurrency: this.shopCurrency,
    } = opts);
    this.now = opts.now ?? (() => new Date());
    this.finder = new CartFinder({ ...opts, now: this.now });
  }

  /** A new guest cart; its answer is the only time the token is shown. */
  async createGuestCart(): Promise<NewGuestCart> {
    const { cart, token } = await this.finder.createGuestCart();
    return { ...priceView(cart, new Map(), new Map(), this.shopCurrency), token };
  }

  /** The user's active cart, created when they have none. */
  async openUserCart(userId: string, shop: Shop): Promise<{ view: CartView; created: boolean }> {
    const { cart, created } = await this.finder.ensureUserCart(userId);
    return { view: await this.priced(cart, shop), created };
  }

  async view(caller: Caller, shop: Shop): Promise<CartView> {
    return this.priced(await this.finder.find(caller), shop);
  }

  /** Adds units of a product (to its line if there is one); the price is always the catalog's. */
  async addItem(
    caller: Caller,
    productId: string,
    quantity: number,
    scope: RequestScope,
  ): Promise<CartView> {
    const product = await this.productForSale(productId, scope.shop);
    const cart = await this.change(caller, scope, (current) => {
      const lines = addLine(current.lines, product, quantity, this.limits, this.isoNow());
      const line = lines.find((l) => l.productId === product.id)!;
      return {
        cart: { ...current, lines },
        events: [itemEvent(EventTypes.CartItemAdded, current, product.id, line.quantity)],
      };
    });
    return this.priced(cart, scope.shop);
  }

  /** Sets a line's quantity; the event says whether units were added or removed. */
  async setItemQuantity(
    caller: Caller,
    productId: string,
    quantity: number,
    scope: RequestScope,
  ): Promise<CartView> {
    const id = productId.toLowerCase();
    const [product] = await scope.shop.products([id]);
    const cart = await this.change(caller, scope, (current) => {
      const lines = setQuantity(current.lines, product, id, quantity, this.limits);
      const before = current.lines.find((l) => l.productId === id)!;
      const after = lines.find((l) => l.productId === id)!;
      if (before.quantity === quantity && samePrice(before, after)) return null;
      // Same quantity at a new price: the line is stored again (its price seen), nothing to announce.
      if (before.quantity === quantity) return { cart: { ...current, lines }, events: [] };
      const type =
        quantity > before.quantity ? EventTypes.CartItemAdded : EventTypes.CartItemRemoved;
      return { cart: { ...current, lines }, events: [itemEvent(type, current, id, quantity)] };
    });
    return this.priced(cart, scope.shop);
  }

  async removeItem(caller: Caller, productId: string, scope: RequestScope): Promise<CartView> {
    const id = productId.toLowerCase();
    const cart = await this.change(caller, scope, (current) => ({
      cart: { ...current, lines: removeLine(current.lines, id) },
      events: [itemEvent(EventTypes.CartItemRemoved, current, id, 0)],
    }));
    return this.priced(cart, scope.shop);
  }

  async clear(caller: Caller, scope: RequestScope): Promise<CartView> {
    const cart = await this.change(caller, scope, (current) =>
      current.lines.length
        ? {
            cart: { ...current, lines: [] },
            events: [
              {
                type: EventTypes.CartCleared,
                payload: { cartId: current.id, userId: current.userId },
              },
            ],
          }
        : null,
    );
    return this.priced(cart, scope.shop);
  }

  /**
   * Moves a guest cart's lines into the user's cart and closes the guest
   * cart. Two writes, made safe to repeat: the user's cart records the guest
   * cart id (mergedFrom) in the write that adds its lines, so a merge that
   * stopped before closing the guest cart, or is simply sent again, adds
   * nothing twice. Lines a guest adds while their own merge runs are not
   * carried over.
   */
  async merge(
    userId: string,
    guestToken: string | undefined,
    scope: RequestScope,
  ): Promise<MergedCartView> {
    const guest = await this.finder.guestCartOfToken(guestToken);
    if (guest.status === "merged") return this.alreadyMerged(userId, guest, scope.shop);
    if (!this.finder.isOpen(guest)) throw cartNotFound();

    const { cart: userCart } = await this.finder.ensureUserCart(userId);
    let outcome: MergeOutcome | undefined;
    const { cart } = await this.writer.update(
      userCart.id,
      (current) => {
        this.assertOpen(current);
        outcome = undefined;
        if (current.mergedFrom.includes(guest.id)) return null;
        outcome = mergeLines(current.lines, guest.lines, this.limits);
        return {
          cart: { ...current, lines: outcome.lines, mergedFrom: [...current.mergedFrom, guest.id] },
          events: [
            {
              type: EventTypes.CartMerged,
              payload: { cartId: current.id, userId, sourceCartId: guest.id, lines: outcome.added },
            },
          ],
        };
      },
      scope.lineage,
    );
    await this.closeMergedGuest(guest.id, cart.id, scope.lineage);
    return {
      ...(await this.priced(cart, scope.shop)),
      merge: {
        sourceCartId: guest.id,
        added: outcome?.added ?? [],
        capped: outcome?.capped ?? [],
        skipped: outcome?.skipped ?? [],
        alreadyMerged: !outcome,
      },
    };
  }

  /** What the orders service turns into an order: the user's own active cart, not empty. */
  async checkoutLines(cartId: string, userId: string): Promise<CartCheckoutLines> {
    const cart = await this.store.findById(cartId);
    if (!cart || cart.userId !== userId || !this.finder.isOpen(cart)) throw cartNotFound();
    if (!cart.lines.length)
      throw AppError.validation("The cart is empty", [
        { field: "cartId", message: "the cart is empty" },
      ]);
    return {
      cartId,
      userId,
      lines: cart.lines.map(({ productId, quantity }) => ({ productId, quantity })),
    };
  }

  /**
   * OrderCreated: the user's cart became an order. Applied once (an already
   * converted cart is left alone); the user's next read starts a new cart.
   * Resolves true when this call converted it.
   */
  async convertToOrder(
    order: { cartId: string; userId: string; orderId: string },
    lineage: MessageLineage,
  ): Promise<boolean> {
    if (!(await this.store.findById(order.cartId))) return false;
    const { written } = await this.writer.update(
      order.cartId,
      (current) => {
        if (current.status !== "active" || current.userId !== order.userId) return null;
        return {
          cart: { ...current, status: "converted", orderId: order.orderId },
          events: [{ type: EventTypes.CartConverted, payload: { ...order } }],
        };
      },
      lineage,
    );
    if (written) await this.cache.forgetUserCart(order.userId);
    return written;
  }

  /** Marks guest carts nobody touched within CART_GUEST_TTL_SEC as expired; resolves with how many. */
  async expireGuestCarts(): Promise<number> {
    let total = 0;
    for (;;) {
      const expired = await this.store.expireGuestCarts(this.now(), EXPIRY_BATCH);
      for (const id of expired) await this.cache.drop(id);
      total += expired.length;
      if (expired.length < EXPIRY_BATCH) return total;
    }
  }

  // ---- changing it

  /**
   * Finds the caller's cart in the store, then applies `apply` to its stored
   * version until the write lands.
   */
  private async change(
    caller: Caller,
    scope: RequestScope,
    apply: (current: CartDocument) => ChangeResult | null,
  ): Promise<CartDocument> {
    const target = await this.finder.findForChange(caller);
    const { cart } = await this.writer.update(
      target.id,
      (current) => {
        this.assertOpen(current);
        return apply(current);
      },
      scope.lineage,
      target,
    );
    return cart;
  }

  private async closeMergedGuest(guestId: string, into: string, lineage: MessageLineage) {
    await this.writer.update(
      guestId,
      (current) =>
        current.status === "active"
          ? {
              cart: { ...current, status: "merged", mergedInto: into, expiresAt: null },
              events: [],
            }
          : null,
      lineage,
    );
  }

  private async alreadyMerged(
    userId: string,
    guest: CartDocument,
    shop: Shop,
  ): Promise<MergedCartView> {
    const into = guest.mergedInto ? await this.store.findById(guest.mergedInto) : null;
    if (into?.userId !== userId) throw cartNotFound();
    const { cart } = await this.finder.ensureUserCart(userId);
    return {
      ...(await this.priced(cart, shop)),
      merge: { sourceCartId: guest.id, added: [], capped: [], skipped: [], alreadyMerged: true },
    };
  }

  private async productForSale(productId: string, shop: Shop): Promise<ProductForCart> {
    const [product] = await shop.products([productId.toLowerCase()]);
    if (!product)
      throw AppError.validation("Invalid productId: no such product", [
        { field: "productId", message: "no such product" },
      ]);
    return product;
  }

  // ---- reading it

  private async priced(cart: CartDocument, shop: Shop): Promise<CartView> {
    const ids = cart.lines.map((line) => line.productId);
    if (!ids.length) return priceView(cart, new Map(), new Map(), this.shopCurrency);
    const [products, availability] = await Promise.all([
      shop.products(ids),
      shop.availability(ids),
    ]);
    return priceView(
      cart,
      new Map(products.map((p) => [p.id, p])),
      availability,
      this.shopCurrency,
    );
  }

  /** Inside a write: the cart was closed after the caller found it. */
  private assertOpen(cart: CartDocument): void {
    if (!this.finder.isOpen(cart))
      throw AppError.conflict("The cart was closed (ordered, merged or expired); read it again");
  }

  private isoNow(): string {
    return this.now().toISOString();
  }
}

/** CartItemAdded / CartItemRemoved: `quantity` is the line's quantity after the change. */
function itemEvent(
  type: typeof EventTypes.CartItemAdded | typeof EventTypes.CartItemRemoved,
  cart: CartDocument,
  productId: string,
  quantity: number,
): CartEvent {
  return { type, payload: { cartId: cart.id, userId: cart.userId, productId, quantity } };
}

function samePrice(a: StoredCartLine, b: StoredCartLine): boolean {
  return (
    a.seenUnitPrice.amount === b.seenUnitPrice.amount &&
    a.seenUnitPrice.currency === b.seenUnitPrice.currency
  );
}
