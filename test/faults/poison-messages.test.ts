import { randomUUID } from "node:crypto";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import { createEnvelope, MessageEnvelope, MessageHeaders } from "../../lib/messaging/envelope";
import {
  ALL_TOPICS,
  EventTypes,
  InventoryCommandTypes,
  NotificationCommandTypes,
  PaymentCommandTypes,
  Topic,
  Topics,
} from "../../lib/messaging/topics";
import type { OrderView } from "../../services/orders/domain/order-view";
import CartService from "../../services/cart/cart.service";
import CatalogService from "../../services/catalog/catalog.service";
import InventoryService from "../../services/inventory/inventory.service";
import NotificationsService from "../../services/notifications/notifications.service";
import DeadLettersService from "../../services/ops/dead-letters.service";
import type { DeadLetterSummary, Page } from "../../services/ops/dead-letter-store";
import OrdersService from "../../services/orders/orders.service";
import PaymentsService from "../../services/payments/payments.service";
import SearchService from "../../services/search/search.service";
import UsersService from "../../services/users/users.service";
import { realServersFor } from "../helpers/servers";
import { waitFor } from "../helpers/wait";
import { checkoutOf, placeOrder, registerShoppers, stockProducts } from "./shop";
import { ShopNode, startShopNode } from "./shop-node";

/**
 * Malformed messages on every topic that has a consumer, with every service
 * consuming (Redis Streams, MariaDB): each one a consumer cannot handle is
 * retried CHANNELS_MAX_RETRIES times, then lands in `<topic>.dlq` — once per
 * consumer group that failed it — where `deadletters.list` shows it, while a
 * checkout placed at the same moment still goes through to CONFIRMED.
 *
 * Poison here means what makes a handler throw: a body that is no envelope
 * (every consumer refuses it), an envelope of a type the consumer handles
 * with a payload of the wrong shape, and an unknown type where the consumer
 * refuses those (inventory and payments commands). Consumers of events skip
 * types they do not handle by design: such a message is acknowledged and
 * never dead-lettered (checked on notifications.commands).
 *
 * `cart.events` and `orders.commands` have no consumer yet: nothing there can
 * be poisoned.
 */
const needed = realServersFor("mysql", "redis");

const MAX_RETRIES = 2;
const TOPICS_WITHOUT_CONSUMER: Topic[] = [Topics.CartEvents, Topics.OrdersCommands];

/** The group of the search node (each node with its own index consumes on its own). */
const SEARCH = expect.stringMatching(/^search/) as unknown as string;

interface Poison {
  topic: Topic;
  what: string;
  body: unknown;
  /** Consumer groups that must dead-letter it (none: acknowledged by design). */
  groups: string[];
}

function notAnEnvelope(topic: Topic, groups: string[]): Poison {
  return { topic, what: "a body that is no envelope", body: { hello: "world" }, groups };
}

function envelope(topic: Topic, type: string, payload: unknown, groups: string[]): Poison {
  const what = `${type} with payload ${JSON.stringify(payload)}`;
  return {
    topic,
    what,
    body: createEnvelope({ type, aggregateId: randomUUID(), payload }),
    groups,
  };
}

const POISONS: Poison[] = [
  notAnEnvelope(Topics.UserEvents, ["notifications"]),
  envelope(Topics.UserEvents, EventTypes.UserRegistered, "a user", ["notifications"]),

  notAnEnvelope(Topics.ProductEvents, ["catalog", SEARCH]),
  envelope(Topics.ProductEvents, EventTypes.StockChanged, "a level", ["catalog", SEARCH]),

  notAnEnvelope(Topics.OrdersEvents, ["cart", "notifications"]),
  // The cart closes carts on OrderCreated (notifications ignores it), notifications mails OrderConfirmed.
  envelope(Topics.OrdersEvents, EventTypes.OrderCreated, { cartId: 42 }, ["cart"]),
  envelope(Topics.OrdersEvents, EventTypes.OrderConfirmed, "an order", ["notifications"]),

  notAnEnvelope(Topics.InventoryCommands, ["inventory"]),
  envelope(Topics.InventoryCommands, InventoryCommandTypes.ReserveStock, "stock", ["inventory"]),
  envelope(Topics.InventoryCommands, "GiveAwayStock", { reservationId: "r-1" }, ["inventory"]),

  notAnEnvelope(Topics.InventoryEvents, ["orders"]),
  envelope(Topics.InventoryEvents, EventTypes.StockReserved, "reserved", ["orders"]),

  notAnEnvelope(Topics.PaymentsCommands, ["payments"]),
  envelope(Topics.PaymentsCommands, PaymentCommandTypes.ProcessPayment, "money", ["payments"]),
  envelope(Topics.PaymentsCommands, "ChargeTwice", { orderId: "o-1" }, ["payments"]),

  notAnEnvelope(Topics.PaymentsEvents, ["orders", "notifications"]),
  envelope(Topics.PaymentsEvents, EventTypes.PaymentSucceeded, "paid", ["orders", "notifications"]),

  // Sent first: notifications handles the topic's messages one at a time, in order.
  envelope(Topics.NotificationsCommands, "SendFax", { to: "+15550100" }, []),
  notAnEnvelope(Topics.NotificationsCommands, ["notifications"]),
  envelope(Topics.NotificationsCommands, NotificationCommandTypes.SendNotification, "mail", [
    "notifications",
  ]),
];

/** Sends a poison message as producers send, with a message id of its own; returns the id. */
async function publish(broker: ServiceBroker, poison: Poison): Promise<string> {
  const body = poison.body as Partial<MessageEnvelope>;
  const messageId = body.id ?? randomUUID();
  const headers: MessageHeaders = {
    correlationId: messageId,
    timestamp: new Date().toISOString(),
    source: "poison",
    messageId,
  };
  await broker.sendToChannel(poison.topic, poison.body, {
    key: body.aggregateId ?? messageId,
    headers: { ...headers },
  });
  return messageId;
}

if (needed.length === 2)
  describe("malformed messages on every consumed topic (Redis Streams)", () => {
    let node: ShopNode;

    beforeAll(async () => {
      node = await startShopNode({
        services: [
          UsersService,
          CatalogService,
          InventoryService,
          CartService,
          OrdersService,
          PaymentsService,
          NotificationsService,
          SearchService,
          DeadLettersService as unknown as ServiceSchema,
        ],
        env: {
          CHANNELS_MAX_RETRIES: String(MAX_RETRIES),
          // On Redis the ack wait is also the pause before a failed message is tried again.
          CHANNELS_ACK_WAIT_MS: "500",
          // Consumers log every poison they refuse as an error, by design.
          LOG_LEVEL: "fatal",
        },
      });
    }, 60_000);

    afterAll(async () => {
      await node?.stop();
    });

    it("covers every topic: those with a consumer are poisoned, the others have none", () => {
      const poisoned = new Set(POISONS.map((p) => p.topic));
      expect([...poisoned, ...TOPICS_WITHOUT_CONSUMER].sort()).toEqual([...ALL_TOPICS].sort());
    });

    it("dead-letters each poison once per failing group while a checkout goes through", async () => {
      const { api, platform } = node;
      const [product] = await stockProducts(platform.broker, [{ price: 1500, onHand: 10 }]);
      const [shopper] = await registerShoppers(api, 1);

      // The checkout starts with the poison: its saga shares every topic with it.
      const checkout = checkoutOf(shopper, [{ productId: product.id, quantity: 1 }], {
        type: "card",
        token: "tok_visa",
      });
      const [placed, ids] = await Promise.all([
        placeOrder(api, checkout),
        Promise.all(POISONS.map((poison) => publish(platform.broker, poison))),
      ]);
      expect(placed.status).toBe(201);
      const confirmed = await waitFor(
        async () => {
          const res = await api<OrderView>("GET", `/orders/${placed.body.id}`, {
            token: shopper.token,
          });
          return res.body.timeline.some((s) => s.step === "STOCK_COMMITTED") ? res.body : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      expect(confirmed.status).toBe("CONFIRMED");

      const expected = POISONS.flatMap((poison, i) =>
        poison.groups.map((group) => ({ topic: poison.topic, group, messageId: ids[i] })),
      );
      const letters = await waitFor(
        async () => {
          const all = await deadLetters(platform.broker);
          return all.length >= expected.length ? all : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      ).catch(() => deadLetters(platform.broker));
      const found = letters.map(({ topic, group, messageId }) => ({ topic, group, messageId }));
      expect(found).toHaveLength(expected.length);
      expect(found).toEqual(expect.arrayContaining(expected));
      for (const letter of letters)
        expect(letter).toMatchObject({
          status: "dead",
          error: expect.any(String),
          attempts: MAX_RETRIES,
        });
    }, 90_000);
  });

/** Every dead letter, whatever its topic. */
async function deadLetters(broker: ServiceBroker): Promise<DeadLetterSummary[]> {
  const all: DeadLetterSummary[] = [];
  for (let page = 1; ; page++) {
    const res = await broker.call<Page<DeadLetterSummary>, object>("deadletters.list", {
      page,
      pageSize: 100,
    });
    all.push(...res.items);
    if (page * 100 >= res.total) return all;
  }
}
