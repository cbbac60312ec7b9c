import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import type { ServiceSchema } from "moleculer";
import type { ProductSnapshot } from "../../lib/contracts/catalog";
import { Topics } from "../../lib/messaging/topics";
import CartService from "../../services/cart/cart.service";
import CatalogService from "../../services/catalog/catalog.service";
import InventoryService from "../../services/inventory/inventory.service";
import DeadLettersService from "../../services/ops/dead-letters.service";
import type { OrderView } from "../../services/orders/domain/order-view";
import { ordersService } from "../helpers/checkout";
import PaymentsService from "../../services/payments/payments.service";
import SearchService from "../../services/search/search.service";
import UsersService from "../../services/users/users.service";
import { newCustomerToken, Platform, startPlatform, withRealServers } from "../helpers/platform";
import { adaptersFor, servers, uniqueName } from "../helpers/servers";
import { cleanUpChannels } from "../helpers/channels";
import { waitFor } from "../helpers/wait";

/**
 * The Prometheus endpoint as Prometheus scrapes it (METRICS_PORT, over
 * HTTP): after a confirmed checkout, a declined one and a customer's cancel,
 * the order counters, the saga duration, the outbox, queue and dead-letter
 * gauges and the search lag say what happened — next to Moleculer's own
 * request metrics. Embedded, and on MariaDB + Redis (BullMQ queues, Redis
 * Streams channels).
 */
const available = adaptersFor("mysql", "redis");
const modes =
  available.includes("mysql") && available.includes("redis")
    ? ["embedded", "mariadb+redis"]
    : ["embedded"];

const PASSWORD = "correct horse battery staple";
const ADDRESS = {
  name: "Sam Shopper",
  line1: "1 Metrics Way",
  city: "Springfield",
  postalCode: "12345",
  country: "US",
};

/** One sample of the exposition text: `name{labels…} value`, with at least the given labels. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[3] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[4]);
  }
  return undefined;
}

describe.each(modes)("metrics endpoint (%s)", (mode) => {
  const real = mode === "embedded" ? undefined : withRealServers("mysql", "redis");
  const channelsPrefix = uniqueName("metrics");
  let platform: Platform;
  let metricsUrl: string;
  let categoryId: string;

  beforeAll(async () => {
    platform = await startPlatform({
      services: [
        UsersService,
        CatalogService,
        InventoryService,
        SearchService,
        CartService,
        ordersService(0),
        PaymentsService,
        DeadLettersService as unknown as ServiceSchema,
      ],
      env: {
        METRICS_PORT: "0",
        METRICS_SAMPLE_INTERVAL_MS: "100",
        RATE_LIMIT_MAX: "0",
        AUTH_RATE_LIMIT_MAX: "0",
        RESERVATION_SWEEP_INTERVAL_MS: "0",
        PAYMENT_GATEWAY_API_KEY: "sk_test_metrics",
        PAYMENT_WEBHOOK_SECRET: "whsec_metrics",
        CHANNELS_PREFIX: channelsPrefix,
        CHANNELS_MAX_RETRIES: "2",
        CHANNELS_ACK_WAIT_MS: "1000",
        CHANNELS_POLL_INTERVAL_MS: "100",
        ...(real ? { ...real.env, CHANNELS_URL: servers.redis! } : {}),
      },
    });
    const reporter = (platform.broker.metrics.reporter as unknown as { server: Server }[])[0];
    const { port } = reporter.server.address() as AddressInfo;
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    const category = await platform.broker.call<{ id: string }, object>("catalog.createCategory", {
      name: `Category ${uniqueName("c")}`,
    });
    categoryId = category.id;
  });

  afterAll(async () => {
    await platform?.stop();
    await real?.cleanup();
    if (real) await cleanUpChannels("redis", channelsPrefix);
  });

  const scrape = async () => {
    const res = await fetch(metricsUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    return res.text();
  };

  async function newProduct(amount: number): Promise<string> {
    const product = await platform.broker.call<ProductSnapshot, object>("catalog.createProduct", {
      sku: uniqueName("SKU").replace(/_/g, "-"),
      name: `Product ${uniqueName("p")}`,
      description: "Something to count.",
      brand: "Acme",
      categoryId,
      price: { amount, currency: "USD" },
      status: "active",
    });
    await platform.broker.call("inventory.setStockBulk", {
      levels: [{ productId: product.id, onHand: 10 }],
    });
    return product.id;
  }

  async function checkout(token: string, productId: string, card: string): Promise<OrderView> {
    const placed = await platform.request<OrderView>("POST", "/orders", {
      token,
      headers: { "Idempotency-Key": randomUUID() },
      body: {
        lines: [{ productId, quantity: 1 }],
        shippingAddress: ADDRESS,
        paymentMethod: { type: "card", token: card },
      },
    });
    expect(placed.status).toBe(201);
    return waitFor(
      async () => {
        const order = (
          await platform.request<OrderView>("GET", `/orders/${placed.body.id}`, { token })
        ).body;
        return order.status === "CONFIRMED" || order.status === "CANCELLED" ? order : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
  }

  it("counts orders by outcome, times the saga, and reports backlogs, queues, dead letters and search lag", async () => {
    const token = await newCustomerToken(platform, PASSWORD);
    const productId = await newProduct(1500);

    const confirmed = await checkout(token, productId, "tok_visa");
    expect(confirmed.status).toBe("CONFIRMED");
    const declined = await checkout(token, productId, "tok_chargeDeclined");
    expect(declined).toMatchObject({ status: "CANCELLED", cancelReason: "PAYMENT_DECLINED" });
    const cancel = await platform.request<OrderView>("POST", `/orders/${confirmed.id}/cancel`, {
      token,
    });
    expect(cancel.body).toMatchObject({ status: "CANCELLED", cancelReason: "CUSTOMER_REQUEST" });

    // A message nobody can handle: retried, then kept as a dead letter.
    await platform.broker.sendToChannel(Topics.InventoryCommands, { not: "an envelope" });

    const text = await waitFor(
      async () => {
        const scraped = await scrape();
        expect(sample(scraped, "commerce_dlq_messages", { topic: "inventory.commands" })).toBe(1);
        // Every outbox drained (the last compensations are published a moment after the answer).
        for (const service of ["orders", "inventory", "payments", "catalog", "users"]) {
          expect(sample(scraped, "commerce_outbox_unpublished_messages", { service })).toBe(0);
          expect(
            sample(scraped, "commerce_outbox_oldest_unpublished_age_seconds", { service }),
          ).toBe(0);
        }
        return scraped;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );

    expect(sample(text, "commerce_orders_created_total")).toBe(2);
    expect(sample(text, "commerce_orders_confirmed_total")).toBe(1);
    expect(sample(text, "commerce_orders_cancelled_total", { reason: "PAYMENT_DECLINED" })).toBe(1);
    expect(sample(text, "commerce_orders_cancelled_total", { reason: "CUSTOMER_REQUEST" })).toBe(1);

    // Two sagas ended (one each way); the cancel after confirmation ended none.
    const sagaCount = (outcome: string) =>
      sample(text, "commerce_checkout_saga_duration_seconds_bucket", { outcome, le: "+Inf" });
    expect(sagaCount("confirmed")).toBe(1);
    expect(sagaCount("cancelled")).toBe(1);
    expect(
      sample(text, "commerce_checkout_saga_duration_seconds_bucket", {
        outcome: "confirmed",
        le: "86400",
      }),
    ).toBe(1);

    for (const queue of ["payment-callbacks", "payment-retries"])
      for (const state of ["waiting", "active", "delayed", "failed"])
        expect(sample(text, "commerce_queue_jobs", { queue, state })).toBe(0);

    expect(sample(text, "commerce_dlq_messages", { topic: "orders.events" })).toBe(0);

    // The product's events reached the search index.
    expect(
      sample(text, "commerce_search_index_lag_seconds_bucket", { le: "+Inf" }),
    ).toBeGreaterThan(0);

    // Moleculer's own: the gateway's requests, labelled by action.
    expect(
      sample(text, "moleculer_request_total", { action: "api.rest", service: "api" }),
    ).toBeGreaterThan(0);
    expect(sample(text, "moleculer_request_total", { action: "orders.placeOrder" })).toBe(2);
  });

  it("answers 404 beside its path", async () => {
    const res = await fetch(metricsUrl.replace(/\/metrics$/, "/elsewhere"));
    expect(res.status).toBe(404);
  });
});
