import type { ServiceSchema } from "moleculer";
import type { PaymentMethodInput } from "../../lib/contracts/orders";
import type { OutboxMessage } from "../../lib/messaging/outbox";
import { OutboxMixin } from "../../mixins/outbox.mixin";
import CatalogService from "../../services/catalog/catalog.service";
import InventoryService from "../../services/inventory/inventory.service";
import OrdersService from "../../services/orders/orders.service";
import PaymentsService from "../../services/payments/payments.service";
import UsersService from "../../services/users/users.service";
import { realServersFor } from "../helpers/servers";
import { waitForSettlement } from "./invariants";
import { checkoutOf, placeAll, registerShoppers, stockProducts } from "./shop";
import { ShopNode, startShopNode } from "./shop-node";

/**
 * The outbox relays of orders, inventory and payments "die" between
 * publishing a message and marking it published, on every third message they
 * publish, all through a checkout burst (MariaDB, Redis Streams, BullMQ): the
 * sweeper publishes those messages again once their claim lapses, so
 * consumers receive them twice — and some twice more, when the republish is
 * itself a third message. Every order still ends CONFIRMED or CANCELLED with
 * each effect applied once: one charge per confirmed order in the provider's
 * books and nothing kept from a cancelled one, stock conserved, no message
 * applied twice in an order's timeline, every outbox drained.
 */
const needed = realServersFor("mysql", "redis");

const SHOPPERS = 6;
const CHECKOUTS = 60;
const CRASH_EVERY = 3;
const SETTLE_WITHIN_MS = 60_000;
const CRASHING = ["orders", "inventory", "payments"] as const;

function paymentFor(n: number): PaymentMethodInput {
  if (n % 10 === 3) return { type: "card", token: "tok_chargeDeclined" };
  if (n % 5 === 1) return { type: "card", token: "tok_async" };
  return { type: "card", token: "tok_visa" };
}

/** The service, its outbox relay dying after every CRASH_EVERY-th publish (counted in `crashes`). */
function withDyingRelay(schema: ServiceSchema, crashes: OutboxMessage[]): ServiceSchema {
  let published = 0;
  const afterPublish = (message: OutboxMessage) => {
    if (++published % CRASH_EVERY !== 0) return;
    crashes.push(message);
    throw new Error(`${schema.name}'s relay died after publishing ${message.envelope.type}`);
  };
  // The OutboxMixin is the mixin with the outboxStatus action: replaced by one with the seam.
  const mixins = (schema.mixins ?? []).map((mixin) =>
    (mixin as ServiceSchema).actions?.outboxStatus ? OutboxMixin({ afterPublish }) : mixin,
  );
  return { ...schema, mixins };
}

if (needed.length === 2)
  describe("checkouts while outbox relays die between publish and mark", () => {
    const crashes: Record<(typeof CRASHING)[number], OutboxMessage[]> = {
      orders: [],
      inventory: [],
      payments: [],
    };
    let node: ShopNode;

    beforeAll(async () => {
      node = await startShopNode({
        services: [
          UsersService,
          CatalogService,
          withDyingRelay(InventoryService, crashes.inventory),
          withDyingRelay(OrdersService, crashes.orders),
          withDyingRelay(PaymentsService, crashes.payments),
        ],
        // A dead relay's claim lapses after a second, then the sweeper publishes again.
        env: { OUTBOX_SWEEP_INTERVAL_MS: "200", OUTBOX_SWEEP_AGE_MS: "1000" },
      });
    }, 60_000);

    afterAll(async () => {
      await node?.stop();
    });

    it("applies every message once: orders settle, charged once or not at all, stock conserved", async () => {
      const { api, platform } = node;
      const products = await stockProducts(platform.broker, [
        { price: 1250, onHand: 500 },
        { price: 4999, onHand: 500 },
        { price: 800, onHand: 6 },
      ]);
      const shoppers = await registerShoppers(api, SHOPPERS);
      const checkouts = Array.from({ length: CHECKOUTS }, (_, n) =>
        checkoutOf(
          shoppers[n % SHOPPERS],
          [{ productId: products[n % products.length].id, quantity: 1 + (n % 2) }],
          paymentFor(n),
        ),
      );

      const placed = await placeAll(api, checkouts, { concurrency: 6 });
      expect(placed.map((p) => p.answer.status)).toEqual(checkouts.map(() => 201));

      const settled = await waitForSettlement(
        {
          api,
          broker: platform.broker,
          ledger: node.ledger,
          shoppers,
          products,
          created: placed.map((p) => p.answer.body.id),
          outboxes: [...CRASHING],
        },
        SETTLE_WITHIN_MS,
      );
      expect(settled.problems).toEqual([]);
      expect(settled.orders).toHaveLength(CHECKOUTS);
      expect(settled.orders.some((o) => o.status === "CONFIRMED")).toBe(true);
      expect(new Set(settled.orders.map((o) => o.cancelReason))).toEqual(
        new Set([null, "OUT_OF_STOCK", "PAYMENT_DECLINED"]),
      );
      // Each relay died many times, on the saga's messages among others.
      const crashedTypes = (service: (typeof CRASHING)[number]) =>
        new Set(crashes[service].map((m) => m.envelope.type));
      expect([...crashedTypes("orders")]).toEqual(
        expect.arrayContaining(["ReserveStock", "ProcessPayment", "CommitStock"]),
      );
      expect([...crashedTypes("inventory")]).toEqual(
        expect.arrayContaining(["StockReserved", "StockCommitted"]),
      );
      expect([...crashedTypes("payments")]).toContain("PaymentSucceeded");
    }, 120_000);
  });
