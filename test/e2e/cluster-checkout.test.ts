import { randomBytes } from "node:crypto";
import type { CartView } from "../../lib/contracts/cart";
import type { NotificationView } from "../../lib/contracts/notifications";
import { NODE_GROUPS } from "../../lib/ops/node-groups";
import type { PageOf } from "../../lib/pagination";
import type { OrderView } from "../../services/orders/domain/order-view";
import {
  card,
  isSettled,
  orderOf,
  SHIPPING_ADDRESS,
  Shopper,
  steps,
  Storefront,
} from "../helpers/checkout";
import { SplitCluster, startSplitCluster } from "../helpers/split-cluster";
import { adaptersFor, realServersFor, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The checkout end to end on the split topology: the node groups of
 * `npm run start:cluster` as separate brokers that meet only over NATS (the
 * transporter and JetStream channels), with the gateway on its own node.
 * Every step of a checkout crosses nodes: the gateway calls users, cart,
 * catalog and orders; the saga reaches inventory and payments through
 * channels; the sandbox provider's webhooks come back through the gateway;
 * notifications read users, catalog and payments. Embedded stores per node,
 * and MariaDB + Redis shared by the nodes when TEST_MYSQL_URL and
 * TEST_REDIS_URL are set. Without TEST_NATS_URL it is left out locally and
 * fails on CI.
 */
const nats = realServersFor("nats");
const available = adaptersFor("mysql", "redis");
const modes =
  available.includes("mysql") && available.includes("redis")
    ? ["embedded", "mariadb+redis"]
    : ["embedded"];

const SETTLE_MS = 20_000;

if (nats.length)
  describe.each(modes)("checkout on the split cluster over NATS (%s)", (mode) => {
    const admin = {
      email: `${uniqueName("admin")}@example.com`,
      password: randomBytes(18).toString("base64url"),
    };
    let cluster: SplitCluster;
    let shop: Storefront;

    beforeAll(async () => {
      cluster = await startSplitCluster({ admin, real: mode !== "embedded" });
      shop = await Storefront.open(cluster.gateway, admin.email, admin.password);
    }, 90_000);

    afterAll(async () => {
      await cluster?.stop();
    });

    const awaitSettled = (who: Shopper, id: string) =>
      shop.awaitOrder(who, id, isSettled, SETTLE_MS);

    it("runs every service group on a node of its own", async () => {
      const ready = await shop.api<{ status: string }>("GET", "/health/ready");
      expect(ready.status).toBe(200);
      const registry = cluster.gateway.broker.registry;
      const nodeOf = (service: string) =>
        registry
          .getServiceList({ onlyAvailable: true })
          .filter((s) => s.name === service)
          .map((s) => s.nodeID);
      for (const group of NODE_GROUPS) {
        const nodeID = cluster.node(group.name).nodeID;
        for (const dir of group.services) {
          const service = dir === "ops" ? "deadletters" : dir;
          expect(nodeOf(service)).toEqual([nodeID]);
        }
      }
    });

    it("checks out a cart paid by card: CONFIRMED, stock committed, cart converted, customer told", async () => {
      const productId = await shop.product(2499, 10);
      const shopper = await shop.shopper();
      const added = await shop.api<CartView>("POST", "/cart/items", {
        token: shopper.token,
        body: { productId, quantity: 2 },
      });
      expect(added.status).toBe(200);
      expect(added.body.subtotal).toEqual({ amount: 4998, currency: "EUR" });

      const placed = await shop.checkout(shopper, {
        cartId: added.body.id,
        shippingAddress: SHIPPING_ADDRESS,
        paymentMethod: card("tok_visa"),
      });
      expect(placed).toMatchObject({ status: "PENDING", total: { amount: 4998, currency: "EUR" } });

      const order = await awaitSettled(shopper, placed.id);
      expect(order.status).toBe("CONFIRMED");
      expect(order.payment).toMatchObject({ status: "SUCCEEDED" });
      expect(steps(order)).toEqual(
        expect.arrayContaining([
          "ORDER_CREATED",
          "STOCK_RESERVED",
          "PAYMENT_SUCCEEDED",
          "ORDER_CONFIRMED",
          "STOCK_COMMITTED",
        ]),
      );
      expect(await shop.stock(productId)).toMatchObject({ onHand: 8, reserved: 0, available: 8 });

      // The cart node converted the cart: the shopper's next cart is a new, empty one.
      const next = await waitFor(
        async () => {
          const cart = await shop.api<CartView>("GET", "/cart", { token: shopper.token });
          return cart.body.id !== added.body.id ? cart.body : undefined;
        },
        { timeoutMs: SETTLE_MS, intervalMs: 100 },
      );
      expect(next.itemCount).toBe(0);

      // The notifications node sent the confirmation (it read the user, the products and the receipt).
      const sent = await waitFor(
        async () => {
          const log = await shop.api<PageOf<NotificationView>>(
            "GET",
            `/notifications?userId=${shopper.id}&template=order-confirmed`,
            { token: shop.admin },
          );
          return log.body.items.find((n) => n.status === "sent");
        },
        { timeoutMs: SETTLE_MS, intervalMs: 100 },
      );
      expect(sent).toMatchObject({ channel: "email", eventType: "OrderConfirmed" });
    });

    it("cancels an order whose card is declined and gives its stock back", async () => {
      const productId = await shop.product(1500, 5);
      const shopper = await shop.shopper();
      const placed = await shop.checkout(
        shopper,
        orderOf([{ productId, quantity: 3 }], card("tok_chargeDeclined")),
      );
      const order = await awaitSettled(shopper, placed.id);
      expect(order).toMatchObject({ status: "CANCELLED", cancelReason: "PAYMENT_DECLINED" });
      expect(order.payment).toMatchObject({ status: "FAILED" });
      expect(steps(order)).toEqual(expect.arrayContaining(["PAYMENT_FAILED", "STOCK_RELEASED"]));
      expect(await shop.stock(productId)).toMatchObject({ onHand: 5, reserved: 0, available: 5 });
    });

    it("confirms a payment the provider settles later, through its webhook to the gateway node", async () => {
      const productId = await shop.product(990, 3);
      const shopper = await shop.shopper();
      const placed = await shop.checkout(
        shopper,
        orderOf([{ productId, quantity: 1 }], card("tok_async")),
      );
      const order = await awaitSettled(shopper, placed.id);
      expect(order.status).toBe("CONFIRMED");
      expect(steps(order)).toEqual(
        expect.arrayContaining(["PAYMENT_PENDING", "PAYMENT_SUCCEEDED", "ORDER_CONFIRMED"]),
      );
    });

    it("never oversells: 6 concurrent orders for 2 units confirm exactly 2", async () => {
      const productId = await shop.product(4200, 2);
      const shoppers = await Promise.all(Array.from({ length: 6 }, () => shop.shopper()));
      const placed = await Promise.all(
        shoppers.map((who) =>
          shop.checkout(who, orderOf([{ productId, quantity: 1 }], card("tok_visa"))),
        ),
      );
      const settled: OrderView[] = await Promise.all(
        placed.map((order, i) => awaitSettled(shoppers[i], order.id)),
      );
      const confirmed = settled.filter((o) => o.status === "CONFIRMED");
      const cancelled = settled.filter((o) => o.status === "CANCELLED");
      expect(confirmed).toHaveLength(2);
      expect(cancelled).toHaveLength(4);
      expect(cancelled.every((o) => o.cancelReason === "OUT_OF_STOCK")).toBe(true);
      expect(await shop.stock(productId)).toMatchObject({ onHand: 0, reserved: 0, available: 0 });
    });
  });
