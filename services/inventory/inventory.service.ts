import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { RequestMeta } from "../../lib/auth/meta";
import type { ProductSnapshot, ReservationOutcome, StockLevel } from "../../lib/contracts/catalog";
import { AppError } from "../../lib/errors";
import { PeriodicTask } from "../../lib/concurrency/periodic-task";
import { infrastructureOf } from "../../lib/infra";
import { durableChannel } from "../../lib/messaging/channel";
import { Topics } from "../../lib/messaging/topics";
import { DatabaseMixin, DatabaseThis } from "../../mixins/database.mixin";
import { OutboxMixin } from "../../mixins/outbox.mixin";
import { serviceMigrations } from "../migrations";
import { handleInventoryCommand } from "./inventory-commands";
import type { InventoryOutbox } from "./inventory-events";
import { InventoryRepository } from "./inventory-repository";
import { forgettingOnCommit, LevelMemo } from "./level-memo";
import * as P from "./inventory.params";
import { outcomeOf, ReservationUseCases } from "./reservation.use-cases";
import { StockUseCases } from "./stock.use-cases";

/**
 * The inventory service (ARCHITECTURE §3, §5): stock levels and reservations
 * that never oversell. Moleculer glue only: actions and the
 * `inventory.commands` consumer hand over to the use cases
 * (reservation.use-cases.ts, stock.use-cases.ts); the expiry sweeper releases
 * reservations nobody finished.
 */
interface InventoryLocals extends DatabaseThis {
  outbox: InventoryOutbox;
  reservations: ReservationUseCases;
  stock: StockUseCases;
  sweeper: PeriodicTask;
}

interface InventoryMethods {
  catalogProductId(ctx: Ctx<unknown>, productId: string): Promise<string>;
}

type Ctx<P> = Context<P, RequestMeta>;
type This = Service & InventoryLocals & InventoryMethods;

const stockExample = { productId: "p-1", onHand: 12, reserved: 2, available: 10, version: 7 };

const InventoryService: ServiceSchema<ServiceSettingSchema, InventoryMethods, InventoryLocals> = {
  name: "inventory",
  mixins: [DatabaseMixin({ migrations: serviceMigrations.inventory }), OutboxMixin()],
  settings: { rest: "/" },

  actions: {
    setStock: {
      rest: "PUT /products/:id/stock",
      auth: "admin",
      openapi: {
        summary: "Set a product's units on hand (never below what is reserved)",
        tags: ["inventory"],
        response: stockExample,
      },
      params: P.setStockParams,
      async handler(ctx: Ctx<P.SetStockParams>): Promise<StockLevel> {
        const productId = await this.catalogProductId(ctx, ctx.params.id);
        return this.stock.setStock(productId, ctx.params.onHand, ctx);
      },
    },

    getStock: {
      rest: "GET /products/:id/stock",
      auth: "admin",
      openapi: {
        summary: "A product's stock level (zero when none was ever set)",
        tags: ["inventory"],
        response: stockExample,
      },
      params: P.productIdParams,
      handler(ctx: Ctx<P.ProductIdParams>): Promise<StockLevel> {
        return this.stock.level(ctx.params.id);
      },
    },

    // Internal actions (no REST route) for other services, the seed script and operators.

    reserve: {
      visibility: "public",
      params: P.reserveParams,
      async handler(ctx: Ctx<P.ReserveParams>): Promise<ReservationOutcome> {
        const { reservationId, lines } = ctx.params;
        return outcomeOf(
          await this.reservations.reserve(reservationId, lines, { origin: ctx }),
          "reserve",
        );
      },
    },

    commit: {
      visibility: "public",
      params: P.reservationIdParams,
      async handler(ctx: Ctx<P.ReservationIdParams>): Promise<ReservationOutcome> {
        return outcomeOf(
          await this.reservations.commit(ctx.params.reservationId, { origin: ctx }),
          "commit",
        );
      },
    },

    release: {
      visibility: "public",
      params: P.releaseParams,
      async handler(ctx: Ctx<P.ReleaseParams>): Promise<ReservationOutcome> {
        const { reservationId, reason } = ctx.params;
        return outcomeOf(
          await this.reservations.release(reservationId, reason, { origin: ctx }),
          "release",
        );
      },
    },

    getReservation: {
      visibility: "public",
      params: P.reservationIdParams,
      handler(ctx: Ctx<P.ReservationIdParams>) {
        return this.reservations.get(ctx.params.reservationId);
      },
    },

    levels: {
      visibility: "public",
      params: P.levelsParams,
      handler(ctx: Ctx<P.LevelsParams>): Promise<StockLevel[]> {
        return this.stock.levels(ctx.params.productIds, ctx.params.maxAgeMs);
      },
    },

    setStockBulk: {
      visibility: "public",
      params: P.setStockBulkParams,
      handler(ctx: Ctx<P.SetStockBulkParams>): Promise<{ updated: number }> {
        return this.stock.setStockBulk(ctx.params.levels, ctx);
      },
    },

    /** Operators: reservations by status, and how many expired ones still wait for the sweeper. */
    status: {
      visibility: "public",
      params: { $$strict: true },
      handler() {
        return this.reservations.status();
      },
    },
  },

  channels: {
    [Topics.InventoryCommands]: durableChannel<unknown, This>(Topics.InventoryCommands, {
      group: "inventory",
      // Reservations are independent; each is guarded by its own row and the stock's conditional updates.
      maxInFlight: 16,
      async handler(envelope, ctx) {
        const result = await handleInventoryCommand(this.reservations, envelope, ctx);
        if (result.kind === "refused")
          this.logger.warn(`${envelope.type} refused: ${result.reason}`, {
            reservationId: envelope.aggregateId,
            messageId: envelope.id,
          });
      },
    }),
  },

  methods: {
    /** The catalog owns products: the id as the catalog spells it, or 404 when it has no such product. */
    async catalogProductId(ctx: Ctx<unknown>, productId: string): Promise<string> {
      try {
        return (await ctx.call<ProductSnapshot, { id: string }>("catalog.get", { id: productId }))
          .id;
      } catch (err) {
        const { type, name } = err as { type?: unknown; name?: unknown };
        // An id the catalog's schema refuses cannot name a product either.
        if (type === "NOT_FOUND" || name === "ValidationError") throw AppError.notFound("Product");
        throw err;
      }
    },
  },

  async started() {
    const { config } = infrastructureOf(this.broker);
    if (config.reservationTtlSec < 1) throw new Error("RESERVATION_TTL_SEC must be at least 1");
    const repository = new InventoryRepository(this.db.sequelize);
    // Every stock change, from either use-case, forgets its product's recent level.
    const memo = new LevelMemo();
    const outbox = forgettingOnCommit(this.outbox, memo);
    this.stock = new StockUseCases(repository, this.db, outbox, memo);
    this.reservations = new ReservationUseCases({
      repository,
      database: this.db,
      outbox,
      reservationTtlMs: config.reservationTtlSec * 1000,
    });
    this.sweeper = new PeriodicTask(
      async (shouldStop) => {
        const released = await this.reservations.expireDue(shouldStop);
        if (released) this.logger.info(`Released ${released} expired reservation(s)`);
      },
      config.reservationSweepIntervalMs,
      (err) => this.logger.error("Reservation expiry sweep failed", err),
    );
    this.sweeper.start();
  },

  async stopped() {
    // Runs before the mixins' stopped hooks, so the database is still open.
    await this.sweeper?.stop();
  },
};

// Brokers and tests take untyped schemas; the typed `this` above is for the handlers.
export default InventoryService as unknown as ServiceSchema;
