import Redis from "ioredis";
import type { ServiceBroker } from "moleculer";
import type { NotificationView } from "../../lib/contracts/notifications";
import type { PageOf } from "../../lib/pagination";
import CatalogService from "../../services/catalog/catalog.service";
import InventoryService from "../../services/inventory/inventory.service";
import NotificationsService from "../../services/notifications/notifications.service";
import OrdersService from "../../services/orders/orders.service";
import PaymentsService from "../../services/payments/payments.service";
import { WEBHOOK_QUEUE } from "../../services/payments/webhook.use-cases";
import UsersService from "../../services/users/users.service";
import { startSmtpServer, TestSmtpServer } from "../helpers/outbound";
import { realServersFor, servers } from "../helpers/servers";
import { sleep, waitFor } from "../helpers/wait";
import { waitForSettlement } from "./invariants";
import { checkoutOf, placeAll, registerShoppers, stockProducts } from "./shop";
import { ShopNode, startShopNode } from "./shop-node";

/**
 * The node's Redis connections are killed (CLIENT KILL), twice, during a
 * checkout burst whose payments settle through provider webhooks (queued on
 * `payment-callbacks`) and whose confirmations and receipts are emailed
 * (the `notifications` queue): MariaDB and Redis for the key-value store, the
 * cache and BullMQ; channels in process. Afterwards every order is settled
 * as usual, every webhook job has completed once and none failed, and every
 * notification is `sent` and reached the mail server exactly once.
 *
 * The node's connections are told apart from everyone else's on the shared
 * Redis by name: REDIS_URL's `connectionName` (and BullMQ's own names) hold
 * the node's key prefix.
 */
const needed = realServersFor("mysql", "redis");

const SHOPPERS = 8;
const CHECKOUTS = 40;
const SETTLE_WITHIN_MS = 60_000;

interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

if (needed.length === 2)
  describe("checkouts and notifications while Redis connections drop (MariaDB + BullMQ)", () => {
    let smtp: TestSmtpServer;
    let node: ShopNode;
    let admin: Redis;

    beforeAll(async () => {
      smtp = await startSmtpServer();
      // A slow mail server: notifications are still queued when the connections drop.
      smtp.setDelay(150);
      admin = new Redis(servers.redis!);
      node = await startShopNode({
        services: [
          UsersService,
          CatalogService,
          InventoryService,
          OrdersService,
          PaymentsService,
          NotificationsService,
        ],
        channels: "in-process",
        nameRedisConnections: true,
        env: {
          SMTP_URL: smtp.url,
          NOTIFICATION_BACKOFF_MS: "100",
          NOTIFICATION_MAX_ATTEMPTS: "10",
          NOTIFICATION_SWEEP_INTERVAL_MS: "250",
          NOTIFICATION_SWEEP_AGE_MS: "2000",
          PAYMENT_WEBHOOK_BACKOFF_MS: "200",
          PAYMENT_WEBHOOK_ATTEMPTS: "10",
          CHANNELS_MAX_RETRIES: "10",
        },
      });
    }, 60_000);

    afterAll(async () => {
      await node?.stop();
      await smtp?.close();
      admin?.disconnect();
    });

    /** Kills every connection of the node; returns their names. */
    async function dropConnections(): Promise<string[]> {
      const list = (await admin.call("CLIENT", "LIST")) as string;
      const ours = list
        .split("\n")
        .map((line) => Object.fromEntries(line.split(" ").map((kv) => kv.split("="))))
        .filter((client) => client.name?.startsWith(node.redisPrefix));
      for (const client of ours) await admin.call("CLIENT", "KILL", "ID", client.id);
      return ours.map((client) => client.name);
    }

    it("completes every webhook job once and sends every notification exactly once", async () => {
      const { api, platform } = node;
      const products = await stockProducts(platform.broker, [
        { price: 2599, onHand: 1000 },
        { price: 999, onHand: 1000 },
      ]);
      const shoppers = await registerShoppers(api, SHOPPERS);
      // Half pay at once, half are settled later by the provider's webhook.
      const checkouts = Array.from({ length: CHECKOUTS }, (_, n) =>
        checkoutOf(shoppers[n % SHOPPERS], [{ productId: products[n % 2].id, quantity: 1 }], {
          type: "card",
          token: n % 2 ? "tok_async" : "tok_visa",
        }),
      );

      let firstDrop: Promise<string[]> | undefined;
      const placed = await placeAll(api, checkouts, {
        concurrency: 4,
        spacingMs: 50,
        onPlaced: (_, answered) => {
          // The first drop lands while checkouts are being placed and paid.
          if (answered === CHECKOUTS / 4) firstDrop = dropConnections();
        },
      });
      expect(placed.map((p) => p.answer.status)).toEqual(checkouts.map(() => 201));
      // The second while webhooks are processed and mails sent.
      await waitFor(() => smtp.received.length >= SHOPPERS + CHECKOUTS / 2, {
        timeoutMs: 30_000,
        intervalMs: 20,
      });
      const drops = [await firstDrop!, await dropConnections()];

      const settled = await waitForSettlement(
        {
          api,
          broker: platform.broker,
          ledger: node.ledger,
          shoppers,
          products,
          created: placed.map((p) => p.answer.body.id),
          outboxes: ["orders", "inventory", "payments"],
        },
        SETTLE_WITHIN_MS,
      );
      expect(settled.problems).toEqual([]);
      expect(settled.orders.map((o) => o.status)).toEqual(checkouts.map(() => "CONFIRMED"));

      // Every provider event was queued once (its id is the job id) and its job completed.
      const events = await providerEventCount(
        node,
        settled.orders.map((o) => o.id),
      );
      const callbacks = await waitFor(
        async () => {
          const counts = await webhookQueueCounts(platform.broker);
          return counts.completed === events ? counts : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      ).catch(async () => webhookQueueCounts(platform.broker));
      expect(callbacks).toEqual({
        waiting: 0,
        active: 0,
        delayed: 0,
        completed: events,
        failed: 0,
      });

      // A welcome for each shopper, a confirmation and a receipt for each order: each sent once.
      const expected = SHOPPERS + 2 * CHECKOUTS;
      const notifications = await waitFor(
        async () => {
          const all = await allNotifications(platform.broker);
          return all.length === expected && all.every((n) => n.status === "sent") ? all : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      // Nothing still on its way: no second copy arrives later.
      await sleep(500);
      const copies = notifications.map(
        (n) => smtp.received.filter((mail) => mail.messageId?.startsWith(`<${n.id}@`)).length,
      );
      expect(copies).toEqual(notifications.map(() => 1));
      expect(smtp.received).toHaveLength(expected);
      // Each drop cut the node's own clients (key-value store, cache, queue producer…) and the
      // workers of its three queues (BullMQ names those after the key prefix too).
      for (const names of drops) {
        expect(names.filter((name) => name === node.redisPrefix).length).toBeGreaterThanOrEqual(3);
        expect(names.filter((name) => name.startsWith(`${node.redisPrefix}q:`))).toHaveLength(3);
      }
    }, 150_000);
  });

/** Events the provider sent about the orders' charges (each one a webhook, each a job). */
async function providerEventCount(node: ShopNode, orderIds: string[]): Promise<number> {
  let count = 0;
  for (const orderId of orderIds)
    for (const charge of await node.ledger.chargesOf(orderId))
      count += (await node.ledger.eventsOf(charge.id)).length;
  return count;
}

async function webhookQueueCounts(broker: ServiceBroker): Promise<QueueCounts> {
  const status = await broker.call<{ queues: Record<string, QueueCounts & object> }>(
    "payments.status",
  );
  const { waiting, active, delayed, completed, failed } = status.queues[WEBHOOK_QUEUE];
  return { waiting, active, delayed, completed, failed };
}

async function allNotifications(broker: ServiceBroker): Promise<NotificationView[]> {
  const all: NotificationView[] = [];
  for (let page = 1; ; page++) {
    const res = await broker.call<PageOf<NotificationView>, object>("notifications.list", {
      page,
      pageSize: 100,
    });
    all.push(...res.items);
    if (page * 100 >= res.total) return all;
  }
}
