import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import type { Server } from "node:http";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { OrderView } from "../../services/orders/domain/order-view";
import type { PaymentView } from "../../services/payments/domain/payment";
import type { PageOf } from "../../lib/pagination";
import type { OutboxStatus } from "../../lib/messaging/outbox";
import { cleanUpChannels } from "../helpers/channels";
import {
  card,
  checkoutServices,
  isSettled,
  orderOf,
  RunningSandbox,
  Shopper,
  startSandbox,
  Storefront,
} from "../helpers/checkout";
import { Platform, PlatformResponse, startPlatform, withRealServers } from "../helpers/platform";
import { adaptersFor, servers, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * No lost order: a node running every checkout service is stopped in the
 * middle of a batch of checkouts and a new node is started on the same data
 * (the same SQLite files under DATA_DIR embedded; the same MariaDB databases,
 * Redis keys and Redis Streams otherwise). Every order the first node
 * accepted must reach CONFIRMED or CANCELLED, with nothing left in an outbox,
 * no reservation left holding stock, stock that adds up and money that adds
 * up.
 *
 * The sandbox payment provider runs beside the nodes and outlives them, as a
 * real provider does, so the charges in its books span the restart: each
 * confirmed order must have exactly one captured charge there, and a
 * cancelled one none that was kept.
 */
const available = adaptersFor("mysql", "redis");
const modes =
  available.includes("mysql") && available.includes("redis")
    ? ["embedded", "mariadb+redis"]
    : ["embedded"];

const BATCH = 30;
const UNITS_ON_HAND = 20;
const PRICE = 1000;
/** A stuck order is given up after this; with it every order ends well within the test. */
const PAYMENT_TIMEOUT_SEC = 8;

interface ReservationReport {
  reservations: Record<string, number>;
}

interface Checkout {
  shopper: Shopper;
  key: string;
  body: object;
}

describe.each(modes)("no lost order across a restart (%s)", (mode) => {
  const adminEmail = `${uniqueName("admin")}@example.com`;
  const adminPassword = randomBytes(18).toString("base64url");
  const channelsPrefix = uniqueName("recovery");
  const real = mode === "embedded" ? undefined : withRealServers("mysql", "redis");
  // Embedded: the SQLite files every node of this suite opens in turn.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "commerce-recovery-"));
  let sandbox: RunningSandbox;
  let port: number;
  let node: Platform | undefined;
  let shoppers: Shopper[];

  beforeAll(async () => {
    sandbox = await startSandbox();
    // Every node listens where the last one did, so the provider's webhooks find it again.
    port = await freePort();
    await sandbox.client.addWebhookEndpoint(
      `http://127.0.0.1:${port}/api/v1/payments/webhooks/sandbox`,
    );
    const first = await startNode();
    const shop = await Storefront.open(first, adminEmail, adminPassword);
    shoppers = await Promise.all([shop.shopper(), shop.shopper(), shop.shopper()]);
  });

  afterAll(async () => {
    await stopNode();
    await sandbox?.provider.close();
    await real?.cleanup();
    if (real) await cleanUpChannels("redis", channelsPrefix);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** A new node on the suite's data: same databases, key prefix, channels and port. */
  async function startNode(): Promise<Platform> {
    node = await startPlatform({
      services: checkoutServices({ sweepMs: 200 }),
      env: {
        LOG_LEVEL: "fatal",
        NODE_ID: uniqueName("node"),
        PORT: String(port),
        DATA_DIR: dataDir,
        // File-backed SQLite under DATA_DIR (not the test default, a private in-memory database).
        SQLITE_STORAGE: "",
        RATE_LIMIT_MAX: "0",
        AUTH_RATE_LIMIT_MAX: "0",
        ADMIN_EMAIL: adminEmail,
        ADMIN_PASSWORD: adminPassword,
        CHANNELS_PREFIX: channelsPrefix,
        // Redis Streams: what a stopped node had read but not acknowledged comes back after this.
        CHANNELS_ACK_WAIT_MS: "1000",
        CHANNELS_POLL_INTERVAL_MS: "100",
        ORDER_PAYMENT_TIMEOUT_SEC: String(PAYMENT_TIMEOUT_SEC),
        OUTBOX_SWEEP_INTERVAL_MS: "200",
        OUTBOX_SWEEP_AGE_MS: "500",
        PAYMENT_CHARGE_RETRY_DELAY_MS: "300",
        PAYMENT_WEBHOOK_BACKOFF_MS: "100",
        ...sandbox.env,
        ...(real ? { ...real.env, CHANNELS_URL: servers.redis! } : {}),
      },
    });
    return node;
  }

  /**
   * Stops the node as its process would stop: broker.stop() (drains), then
   * every socket dropped, as the process exiting does. (A stopped gateway's
   * keep-alive connections would otherwise outlive it in this test process.)
   */
  async function stopNode(): Promise<void> {
    const stopping = node;
    node = undefined;
    if (!stopping) return;
    const gateway = stopping.broker.getLocalService("api") as unknown as { server: Server };
    await stopping.stop();
    gateway.server.closeAllConnections();
  }

  /** 30 checkouts of one unit each, spread over the shoppers; every fifth card is declined. */
  function batchFor(productId: string): Checkout[] {
    return Array.from({ length: BATCH }, (_, i) => ({
      shopper: shoppers[i % shoppers.length],
      key: randomUUID(),
      body: orderOf(
        [{ productId, quantity: 1 }],
        card(i % 5 === 4 ? "tok_chargeDeclined" : "tok_visa"),
      ),
    }));
  }

  /** POST /orders as a browser sends it: a refused connection is an answer too (status 0). */
  async function send(platform: Platform, checkout: Checkout) {
    try {
      return await platform.request<OrderView>("POST", "/orders", {
        token: checkout.shopper.token,
        body: checkout.body,
        headers: { "Idempotency-Key": checkout.key },
      });
    } catch {
      return { status: 0, headers: {}, body: undefined } as unknown as PlatformResponse<OrderView>;
    }
  }

  /**
   * Waits until every order has ended and the node is idle, then checks the
   * guarantees: nothing unpublished, no reservation holding stock, stock
   * conserved, each confirmed order captured once and every cancelled one
   * holding no money.
   */
  async function expectEveryOrderAccountedFor(
    platform: Platform,
    shop: Storefront,
    productId: string,
    orders: { shopper: Shopper; id: string }[],
  ): Promise<void> {
    const final = await waitFor(
      async () => {
        const views = await Promise.all(orders.map((o) => shop.order(o.shopper, o.id)));
        const stuck = views.filter((v) => !isSettled(v.body));
        if (stuck.length)
          throw new Error(`${stuck.length} order(s) not settled, e.g. ${stuck[0].body.status}`);
        return views.map((v) => v.body);
      },
      { timeoutMs: 40_000, intervalMs: 100 },
    );

    await waitFor(
      async () => {
        for (const service of ["orders", "inventory", "payments", "catalog"]) {
          const status = await platform.broker.call<OutboxStatus>(`${service}.outboxStatus`);
          expect({ service, unpublished: status.unpublished }).toEqual({ service, unpublished: 0 });
        }
        const report = await platform.broker.call<ReservationReport>("inventory.status");
        expect(report.reservations.RESERVED).toBe(0);
        return true;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );

    const confirmed = final.filter((o) => o.status === "CONFIRMED");
    const cancelled = final.filter((o) => o.status === "CANCELLED");
    expect(confirmed.length + cancelled.length).toBe(orders.length);
    expect(confirmed.length).toBeGreaterThan(0);
    const sold = confirmed.reduce((n, o) => n + o.lines[0].quantity, 0);
    expect(await shop.stock(productId)).toMatchObject({
      onHand: UNITS_ON_HAND - sold,
      reserved: 0,
    });

    // Money, in the provider's books and in ours.
    const byId = new Map(orders.map((o) => [o.id, o.shopper]));
    for (const order of confirmed) {
      const captured = (await sandbox.client.charges(order.id)).filter(
        (c) => c.status === "succeeded",
      );
      expect(captured).toEqual([
        expect.objectContaining({ amount: PRICE, refunded: false, refunds: [] }),
      ]);
      const payment = await shop.api<PaymentView>("GET", `/payments/${order.id}`, {
        token: byId.get(order.id)!.token,
      });
      expect(payment.body).toMatchObject({
        status: "SUCCEEDED",
        providerReference: captured[0].id,
      });
    }
    for (const order of cancelled) {
      const kept = (await sandbox.client.charges(order.id)).filter(
        (c) => c.status === "succeeded" && !c.refunded,
      );
      expect({ order: order.id, reason: order.cancelReason, kept }).toEqual({
        order: order.id,
        reason: order.cancelReason,
        kept: [],
      });
    }
  }

  it("finishes every accepted order when the node stops while their sagas are under way", async () => {
    const before = node!;
    const shop = await Storefront.open(before, adminEmail, adminPassword);
    const productId = await shop.product(PRICE, UNITS_ON_HAND);
    const batch = batchFor(productId);

    const answers = await Promise.all(batch.map((checkout) => send(before, checkout)));
    expect(answers.map((a) => a.status)).toEqual(Array(BATCH).fill(201));
    // Stopped at once: reservations, charges and confirmations are still going on.
    await stopNode();

    const after = await startNode();
    const reopened = await Storefront.open(after, adminEmail, adminPassword);
    await expectEveryOrderAccountedFor(
      after,
      reopened,
      productId,
      answers.map((a, i) => ({ shopper: batch[i].shopper, id: a.body.id })),
    );
  }, 60_000);

  it("gives every checkout exactly one order when the node stops while requests are still arriving", async () => {
    const before = node!;
    const shop = await Storefront.open(before, adminEmail, adminPassword);
    const productId = await shop.product(PRICE, UNITS_ON_HAND);
    const ordersBefore = await Promise.all(shoppers.map((s) => orderCount(before, s)));
    const batch = batchFor(productId);

    // Checkouts arrive five at a time, each lane sending its next one when answered;
    // the node is stopped once a third have been answered, while the rest keep coming.
    let answered = 0;
    let stopped: Promise<void> | undefined;
    const first: PlatformResponse<OrderView>[] = [];
    const lanes = 5;
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        for (let i = lane; i < BATCH; i += lanes) {
          first[i] = await send(before, batch[i]);
          if (++answered === BATCH / 3) stopped = stopNode();
        }
      }),
    );
    await stopped;
    const accepted = first.filter((a) => a.status === 201).length;
    expect(accepted).toBeGreaterThanOrEqual(BATCH / 3);

    // A shopper whose request got no answer sends it again, with the same key, to the new node.
    const after = await startNode();
    const retried = await Promise.all(
      batch.map((checkout, i) =>
        first[i].status === 201
          ? first[i]
          : waitFor(
              async () => {
                const res = await send(after, checkout);
                if (res.status !== 201) throw new Error(`POST /orders answered ${res.status}`);
                return res;
              },
              { timeoutMs: 30_000, intervalMs: 250 },
            ),
      ),
    );
    // Every key, answered before the stop or after it, keeps answering its one order.
    const again = await Promise.all(batch.map((checkout) => send(after, checkout)));
    expect(again.map((a) => a.body.id)).toEqual(retried.map((r) => r.body.id));

    // One order per checkout: none lost, none placed twice.
    const ids = retried.map((r) => r.body.id);
    expect(new Set(ids).size).toBe(BATCH);
    const ordersAfter = await Promise.all(shoppers.map((s) => orderCount(after, s)));
    const sentBy = shoppers.map((s) => batch.filter((c) => c.shopper === s).length);
    expect(ordersAfter).toEqual(ordersBefore.map((n, i) => n + sentBy[i]));

    const reopened = await Storefront.open(after, adminEmail, adminPassword);
    await expectEveryOrderAccountedFor(
      after,
      reopened,
      productId,
      retried.map((r, i) => ({ shopper: batch[i].shopper, id: r.body.id })),
    );
  }, 60_000);
});

async function orderCount(platform: Platform, shopper: Shopper): Promise<number> {
  const list = await platform.request<PageOf<OrderView>>("GET", "/orders?pageSize=1", {
    token: shopper.token,
  });
  return list.body.total;
}

/** A port free right now (each node of the suite takes it in turn). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
