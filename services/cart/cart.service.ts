import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { RequestMeta } from "../../lib/auth/meta";
import type { CartView } from "../../lib/contracts/cart";
import type { ProductSnapshot, StockLevel } from "../../lib/contracts/catalog";
import type { OrderEventPayload } from "../../lib/contracts/orders";
import type { Config } from "../../lib/config";
import { infrastructureOf } from "../../lib/infra";
import { channelsReady } from "../../lib/infra/channels";
import { durableChannel } from "../../lib/messaging/channel";
import { lineageOf } from "../../lib/messaging/outbox";
import { EventTypes, Topics } from "../../lib/messaging/topics";
import { sendEnvelope } from "../../mixins/outbox.mixin";
import { CartCache } from "./cart-cache";
import { CartEventPublisher, toMessage } from "./cart-events";
import { CartWriter } from "./cart-writer";
import { cartExample, openapi } from "./cart.openapi";
import * as P from "./cart.params";
import type { Caller } from "./cart-finder";
import { CartUseCases, RequestScope, Shop } from "./cart.use-cases";
import { PeriodicTask } from "../../lib/concurrency/periodic-task";
import { CartStore, createCartStore } from "./store";

/**
 * The cart service (ARCHITECTURE §3, §11): guest and user carts, merge on
 * sign-in, and every read priced from the catalog and checked against
 * inventory. Moleculer glue only: actions hand over to the use cases
 * (cart.use-cases.ts); the orders.events consumer closes a cart that became
 * an order; two periodic tasks expire abandoned guest carts and republish
 * cart.events a crash left in a document.
 *
 * Every route is public: the gateway sets ctx.meta.user for a valid bearer
 * token, and otherwise the caller is a guest whose X-Cart-Token is in
 * ctx.meta.cartToken. Merging needs both, so it asks for a user.
 */
interface CartLocals {
  store: CartStore;
  carts: CartUseCases;
  publisher: CartEventPublisher;
  tasks: PeriodicTask[];
}

interface CartMethods {
  callerOf(ctx: Ctx<unknown>): Caller;
  shopFor(ctx: Ctx<unknown>): Shop;
  scopeOf(ctx: Ctx<unknown>): RequestScope;
}

/** moleculer-web sends `$location` as the Location header of a 201. */
type Ctx<P> = Context<P, RequestMeta & { $location?: string }>;

/**
 * How old a stock level a cart may show ("3 left"). Inventory answers from
 * the levels it read recently, and forgets a product's the moment its stock
 * changes on that node; the reservation at checkout is what guards stock.
 */
const CART_STOCK_MAX_AGE_MS = 1000;

type This = Service & CartLocals & CartMethods;

const CartService: ServiceSchema<ServiceSettingSchema, CartMethods, CartLocals> = {
  name: "cart",
  settings: { rest: "/" },

  actions: {
    create: {
      rest: "POST /cart",
      auth: "public",
      openapi: openapi(
        "A new guest cart with its X-Cart-Token (201); for a signed-in user, their cart",
        { status: 201, response: { ...cartExample, token: "<cart id>.<secret>" } },
      ),
      params: P.noParams,
      async handler(ctx: Ctx<unknown>): Promise<CartView> {
        const { userId } = this.callerOf(ctx);
        if (!userId) {
          respondCreated(ctx);
          return this.carts.createGuestCart();
        }
        const { view, created } = await this.carts.openUserCart(userId, this.shopFor(ctx));
        if (created) respondCreated(ctx);
        return view;
      },
    },

    get: {
      rest: "GET /cart",
      auth: "public",
      openapi: openapi("The cart with current prices, availability and totals"),
      params: P.noParams,
      handler(ctx: Ctx<unknown>): Promise<CartView> {
        return this.carts.view(this.callerOf(ctx), this.shopFor(ctx));
      },
    },

    addItem: {
      rest: "POST /cart/items",
      auth: "public",
      openapi: openapi("Add units of a product (to its line if it has one)"),
      params: P.addItemParams,
      handler(ctx: Ctx<P.AddItemParams>): Promise<CartView> {
        const { productId, quantity } = ctx.params;
        return this.carts.addItem(this.callerOf(ctx), productId, quantity, this.scopeOf(ctx));
      },
    },

    setItemQuantity: {
      rest: "PATCH /cart/items/:productId",
      auth: "public",
      openapi: openapi("Set a line's quantity (at least 1; DELETE removes it)"),
      params: P.setQuantityParams,
      handler(ctx: Ctx<P.SetQuantityParams>): Promise<CartView> {
        const { productId, quantity } = ctx.params;
        return this.carts.setItemQuantity(
          this.callerOf(ctx),
          productId,
          quantity,
          this.scopeOf(ctx),
        );
      },
    },

    removeItem: {
      rest: "DELETE /cart/items/:productId",
      auth: "public",
      openapi: openapi("Remove a line"),
      params: P.productIdParams,
      handler(ctx: Ctx<P.ProductIdParams>): Promise<CartView> {
        return this.carts.removeItem(this.callerOf(ctx), ctx.params.productId, this.scopeOf(ctx));
      },
    },

    clear: {
      rest: "DELETE /cart",
      auth: "public",
      openapi: openapi("Remove every line"),
      params: P.noParams,
      handler(ctx: Ctx<unknown>): Promise<CartView> {
        return this.carts.clear(this.callerOf(ctx), this.scopeOf(ctx));
      },
    },

    merge: {
      rest: "POST /cart/merge",
      auth: "user",
      openapi: openapi(
        "Move the guest cart of X-Cart-Token into the user's cart (quantities added, limits applied) and close it",
        {
          response: {
            ...cartExample,
            merge: { sourceCartId: "…", added: [], capped: [], skipped: [], alreadyMerged: false },
          },
        },
      ),
      params: P.noParams,
      handler(ctx: Ctx<unknown>) {
        const { userId, cartToken } = this.callerOf(ctx);
        return this.carts.merge(userId!, cartToken, this.scopeOf(ctx));
      },
    },

    // Internal (no REST route): the orders service reads what to order.
    checkoutLines: {
      visibility: "public",
      params: P.checkoutLinesParams,
      handler(ctx: Ctx<P.CheckoutLinesParams>) {
        return this.carts.checkoutLines(ctx.params.cartId, ctx.params.userId);
      },
    },
  },

  channels: {
    [Topics.OrdersEvents]: durableChannel<Partial<OrderEventPayload>, This>(Topics.OrdersEvents, {
      group: "cart",
      // Conversions of different carts are independent; one cart's write is versioned.
      maxInFlight: 8,
      async handler(envelope, ctx) {
        if (envelope.type !== EventTypes.OrderCreated) return;
        const { cartId, userId, orderId } = envelope.payload ?? {};
        // An order may be placed without a cart: nothing to close.
        if (cartId === undefined) return;
        if (typeof cartId !== "string" || typeof userId !== "string" || typeof orderId !== "string")
          throw new Error("OrderCreated needs string cartId, userId and orderId");
        await this.carts.convertToOrder({ cartId, userId, orderId }, lineageOf(ctx));
      },
    }),
  },

  methods: {
    callerOf(ctx: Ctx<unknown>): Caller {
      return { userId: ctx.meta.user?.id, cartToken: ctx.meta.cartToken };
    },

    /** Prices and status from the catalog, stock from inventory, asked on behalf of ctx. */
    shopFor(ctx: Ctx<unknown>): Shop {
      return {
        products: (ids) =>
          ctx.call<ProductSnapshot[], { ids: string[] }>("catalog.getMany", { ids }),
        async availability(ids) {
          const levels = await ctx.call<StockLevel[], { productIds: string[]; maxAgeMs: number }>(
            "inventory.levels",
            { productIds: ids, maxAgeMs: CART_STOCK_MAX_AGE_MS },
          );
          return new Map(levels.map((level) => [level.productId, level.available]));
        },
      };
    },

    scopeOf(ctx: Ctx<unknown>): RequestScope {
      return { shop: this.shopFor(ctx), lineage: lineageOf(ctx) };
    },
  },

  async started() {
    const infra = infrastructureOf(this.broker);
    const { config } = infra;
    checkCartConfig(config);
    const store = createCartStore({ mongoUrl: config.mongoUrl, logger: this.logger });
    await store.connect();
    this.store = store;
    this.logger.info(`cart store: ${store.kind}`);
    infra.setProbe("carts", () => store.ping().then(() => true));

    const broker = this.broker;
    const source = this.fullName;
    this.publisher = new CartEventPublisher(
      store,
      async (cartId, event) => {
        // Events written while the node starts wait for the channel adapter.
        await channelsReady(broker);
        const message = toMessage(cartId, event, this.name);
        await sendEnvelope(
          broker,
          { topic: Topics.CartEvents, aggregateId: cartId, ...message },
          source,
        );
      },
      this.logger,
    );
    const guestTtlMs = config.cartGuestTtlSec * 1000;
    const cache = new CartCache(infra.kv, config.cartCacheTtlSec * 1000, this.logger);
    const writer = new CartWriter({ store, cache, publisher: this.publisher, guestTtlMs });
    this.carts = new CartUseCases({
      store,
      cache,
      writer,
      guestTtlMs,
      limits: { maxLines: config.cartMaxLines, maxQuantity: config.cartMaxQuantity },
      shopCurrency: config.shopCurrency,
    });

    this.tasks = [
      new PeriodicTask(
        async () => {
          const expired = await this.carts.expireGuestCarts();
          if (expired) this.logger.info(`Expired ${expired} abandoned guest cart(s)`);
        },
        config.cartSweepIntervalMs,
        (err) => this.logger.error("Guest cart expiry failed", err),
      ),
      new PeriodicTask(
        async () => {
          await this.publisher.sweep(new Date(Date.now() - config.outboxSweepAgeMs));
        },
        config.outboxSweepIntervalMs,
        (err) => this.logger.error("cart.events sweep failed", err),
      ),
    ];
    for (const task of this.tasks) task.start();
  },

  async stopped() {
    await Promise.all((this.tasks ?? []).map((task) => task.stop()));
    await this.publisher?.drain();
    infrastructureOf(this.broker).setProbe("carts", undefined);
    await this.store?.disconnect();
  },
};

/** The caller's cart is always at /cart: who they are says which one. */
function respondCreated(ctx: Ctx<unknown>): void {
  ctx.meta.$statusCode = 201;
  ctx.meta.$location = "/api/v1/cart";
}

function checkCartConfig(config: Config): void {
  const bad = (
    [
      ["CART_MAX_LINES", config.cartMaxLines],
      ["CART_MAX_QUANTITY", config.cartMaxQuantity],
      ["CART_GUEST_TTL_SEC", config.cartGuestTtlSec],
    ] as const
  ).filter(([, value]) => value < 1);
  if (bad.length) throw new Error(`${bad.map(([name]) => name).join(", ")} must be at least 1`);
}

// Brokers and tests take untyped schemas; the typed `this` above is for the handlers.
export default CartService as unknown as ServiceSchema;
