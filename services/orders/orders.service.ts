import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { RequestMeta } from "../../lib/auth/meta";
import type { CartCheckoutLines } from "../../lib/contracts/cart";
import type { ProductSnapshot } from "../../lib/contracts/catalog";
import type { Receipt, ShippingAddress } from "../../lib/contracts/orders";
import { AppError } from "../../lib/errors";
import type { PeriodicTask } from "../../lib/concurrency/periodic-task";
import { infrastructureOf } from "../../lib/infra";
import { businessMetrics } from "../../lib/observability/metrics";
import { durableChannel, IncomingHeaders } from "../../lib/messaging/channel";
import type { MessageEnvelope } from "../../lib/messaging/envelope";
import { Topics } from "../../lib/messaging/topics";
import { DatabaseMixin, DatabaseThis } from "../../mixins/database.mixin";
import { OutboxMixin } from "../../mixins/outbox.mixin";
import { serviceMigrations } from "../migrations";
import { CheckoutReaders, CheckoutUseCase } from "./checkout.use-case";
import { DecisionWriter, OrdersOutbox } from "./decision-writer";
import { idempotencyKeyFrom, IdempotencyKeys } from "./idempotency";
import { OrderChanges } from "./order-changes";
import { OrderRepository } from "./order-repository";
import { OrderUseCases } from "./order.use-cases";
import * as P from "./orders.params";
import { overdueSweeper } from "./overdue-sweeper";
import {
  INVENTORY_EVENTS_CONSUMER,
  inventoryMessage,
  PAYMENTS_EVENTS_CONSUMER,
  paymentMessage,
  SagaMessage,
} from "./saga-messages";
import { SagaUseCases } from "./saga.use-cases";

/**
 * The orders service (ARCHITECTURE §3, §5): checkout, the checkout saga it
 * orchestrates over channels (reserve stock → charge → confirm, or cancel
 * and compensate), order history and tracking. Moleculer glue only: actions
 * and the `inventory.events` / `payments.events` consumers hand over to the
 * use cases; the sweeper cancels orders whose payment never came.
 */
interface OrdersSettings extends ServiceSettingSchema {
  rest: string;
  /** How often each node looks for orders past their payment deadline (0 disables). */
  overdueSweepIntervalMs: number;
}

interface OrdersLocals extends DatabaseThis {
  outbox: OrdersOutbox;
  checkout: CheckoutUseCase;
  orders: OrderUseCases;
  saga: SagaUseCases;
  sweeper: PeriodicTask;
  changes: OrderChanges;
}

interface OrdersMethods {
  handleSagaMessage(
    message: SagaMessage | null,
    consumer: string,
    envelope: MessageEnvelope<unknown>,
    ctx: Context,
    headers: IncomingHeaders,
  ): Promise<void>;
}

/** moleculer-web sends `$location` as the Location header of a 201. */
type Ctx<P> = Context<P, RequestMeta & { $location?: string }>;
type This = Service<OrdersSettings> & OrdersLocals & OrdersMethods;

/** Saga messages handled at once per node. */
const CONSUMER_IN_FLIGHT = 16;

/** The caller the gateway authenticated. */
function callerId(ctx: Ctx<unknown>): string {
  const user = ctx.meta.user;
  if (!user) throw AppError.unauthorized();
  return user.id;
}

const OrdersService: ServiceSchema<OrdersSettings, OrdersMethods, OrdersLocals> = {
  name: "orders",
  mixins: [DatabaseMixin({ migrations: serviceMigrations.orders }), OutboxMixin()],
  settings: { rest: "/", overdueSweepIntervalMs: 15_000 },

  actions: {
    placeOrder: {
      rest: "POST /orders",
      openapi: {
        summary: "Place an order from the cart or explicit lines (header Idempotency-Key required)",
        description:
          "Prices come from the catalog; any price in the request is ignored. Repeating a request with the same Idempotency-Key answers the first response; another body with that key is 422.",
        tags: ["orders"],
        status: 201,
      },
      params: P.placeOrderParams,
      async handler(ctx: Ctx<P.PlaceOrderParams>) {
        const userId = callerId(ctx);
        const key = idempotencyKeyFrom(ctx.meta);
        const { status, order } = await this.checkout.placeOrder(
          userId,
          key,
          ctx.params,
          checkoutReaders(ctx),
          ctx,
        );
        ctx.meta.$statusCode = status;
        ctx.meta.$location = `/api/v1/orders/${order.id}`;
        return order;
      },
    },

    listOrders: {
      rest: "GET /orders",
      openapi: { summary: "The signed-in user's orders, newest first", tags: ["orders"] },
      params: P.listOrdersParams,
      handler(ctx: Ctx<P.ListOrdersParams>) {
        return this.orders.list(callerId(ctx), ctx.params);
      },
    },

    getOrder: {
      rest: "GET /orders/:id",
      openapi: {
        summary:
          "One of the user's orders: reference, status, lines, totals, payment and saga timeline",
        description:
          "With `whileStatus` (statuses, comma-separated) and `wait` (seconds, up to 8), the answer waits while the order is in one of them, so a storefront learns the checkout's outcome without polling: `?whileStatus=PENDING,AWAITING_PAYMENT&wait=8`.",
        tags: ["orders"],
      },
      params: P.getOrderParams,
      handler(ctx: Ctx<P.GetOrderParams>) {
        const userId = callerId(ctx);
        const { id, wait, whileStatus } = ctx.params;
        const read = () => this.orders.get(userId, id);
        if (!wait || !whileStatus) return read();
        const awaited = new Set(whileStatus.split(","));
        const peek = () => this.orders.statusOf(userId, id);
        return this.changes.waitWhile(id, wait * 1000, read, (status) => awaited.has(status), peek);
      },
    },

    cancelOrder: {
      rest: "POST /orders/:id/cancel",
      openapi: {
        summary: "Cancel an order before it ships (stock given back, payment refunded)",
        tags: ["orders"],
      },
      params: P.orderIdParams,
      handler(ctx: Ctx<P.OrderIdParams>) {
        return this.orders.cancel(callerId(ctx), ctx.params.id, ctx);
      },
    },

    getReceipt: {
      rest: "GET /orders/:id/receipt",
      openapi: { summary: "The receipt of an order's payment", tags: ["orders"] },
      params: P.orderIdParams,
      async handler(ctx: Ctx<P.OrderIdParams>): Promise<Receipt> {
        const userId = callerId(ctx);
        const order = await this.orders.requireOwn(userId, ctx.params.id);
        return ctx.call<Receipt, { orderId: string; userId: string }>("payments.receipt", {
          orderId: order.id,
          userId,
        });
      },
    },

    /** Operators (REPL `order <id>`): any order with its owner and saga timeline. No REST route. */
    inspect: {
      visibility: "public",
      params: P.orderIdParams,
      handler(ctx: Ctx<P.OrderIdParams>) {
        return this.orders.inspect(ctx.params.id);
      },
    },

    /** Operators (REPL `order <reference>`): the orders an email's short reference may mean. No REST route. */
    findByReference: {
      visibility: "public",
      params: P.referenceParams,
      handler(ctx: Ctx<P.ReferenceParams>) {
        return this.orders.findByReference(ctx.params.reference);
      },
    },

    setOrderStatus: {
      rest: "PATCH /orders/:id/status",
      auth: "admin",
      openapi: {
        summary: "Ship (with a tracking number) or deliver an order",
        tags: ["orders admin"],
      },
      params: P.setStatusParams,
      handler(ctx: Ctx<P.SetStatusParams>) {
        const { id, status, trackingNumber } = ctx.params;
        return this.orders.setStatus(id, status, trackingNumber, ctx);
      },
    },
  },

  channels: {
    [Topics.InventoryEvents]: durableChannel<unknown, This>(Topics.InventoryEvents, {
      group: "orders",
      // Orders are independent; one order's messages are guarded by its row (status, version, inbox).
      maxInFlight: CONSUMER_IN_FLIGHT,
      handler(envelope, ctx, headers) {
        return this.handleSagaMessage(
          inventoryMessage(envelope),
          INVENTORY_EVENTS_CONSUMER,
          envelope,
          ctx,
          headers,
        );
      },
    }),
    [Topics.PaymentsEvents]: durableChannel<unknown, This>(Topics.PaymentsEvents, {
      group: "orders",
      // Orders are independent; one order's messages are guarded by its row (status, version, inbox).
      maxInFlight: CONSUMER_IN_FLIGHT,
      handler(envelope, ctx, headers) {
        return this.handleSagaMessage(
          paymentMessage(envelope),
          PAYMENTS_EVENTS_CONSUMER,
          envelope,
          ctx,
          headers,
        );
      },
    }),
  },

  methods: {
    /**
     * Applies a message to its order once. A message the order's state
     * refuses is stale or repeated: logged and acknowledged, not retried.
     */
    async handleSagaMessage(message, consumer, envelope, ctx, headers) {
      if (!message) return;
      const result = await this.saga.react(message.orderId, message.event, {
        origin: ctx,
        message: { consumer, received: { id: envelope.id, causationId: headers.causationId } },
      });
      const about = { orderId: message.orderId, messageId: envelope.id };
      if (result.kind === "refused")
        this.logger.warn(`${envelope.type} ignored: ${result.error.message}`, about);
      else if (result.kind === "unknown")
        this.logger.debug(`${envelope.type} is about no order of ours`, about);
    },
  },

  async started() {
    const { config } = infrastructureOf(this.broker);
    if (config.orderPaymentTimeoutSec < 1)
      throw new Error("ORDER_PAYMENT_TIMEOUT_SEC must be at least 1");
    const repository = new OrderRepository(this.db.sequelize);
    this.changes = new OrderChanges();
    const writer = new DecisionWriter(
      repository,
      this.outbox,
      businessMetrics(this.broker),
      this.changes,
    );
    const keys = new IdempotencyKeys(this.db, { ttlMs: config.idempotencyTtlSec * 1000 });
    this.saga = new SagaUseCases({
      repository,
      database: this.db,
      writer,
      paymentTimeoutMs: config.orderPaymentTimeoutSec * 1000,
    });
    this.orders = new OrderUseCases(repository, this.saga);
    this.checkout = new CheckoutUseCase({ database: this.db, writer, keys });
    this.sweeper = overdueSweeper(
      {
        cancelOverdue: (shouldStop) => this.saga.cancelOverdue(shouldStop),
        purgeExpiredKeys: () => keys.purgeExpired(),
      },
      this.settings.overdueSweepIntervalMs,
      this.logger,
    );
    this.sweeper.start();
  },

  async stopped() {
    this.changes?.close();
    // Runs before the mixins' stopped hooks, so the database is still open.
    await this.sweeper?.stop();
  },
};

/** What checkout reads from the cart, catalog and users services, as the caller. */
function checkoutReaders(ctx: Ctx<unknown>): CheckoutReaders {
  return {
    cartLines: (cartId, userId) =>
      ctx.call<CartCheckoutLines, object>("cart.checkoutLines", { cartId, userId }),
    products: (ids) => ctx.call<ProductSnapshot[], object>("catalog.getMany", { ids }),
    async address(userId, addressId) {
      try {
        const saved = await ctx.call<ShippingAddress & { line2: string | null }, object>(
          "users.getAddress",
          { userId, addressId },
        );
        const { name, line1, line2, city, postalCode, country } = saved;
        return { name, line1, ...(line2 ? { line2 } : {}), city, postalCode, country };
      } catch (err) {
        if ((err as { type?: unknown }).type === "NOT_FOUND") return null;
        throw err;
      }
    },
  };
}

// Brokers and tests take untyped schemas; the typed `this` above is for the handlers.
export default OrdersService as unknown as ServiceSchema;
