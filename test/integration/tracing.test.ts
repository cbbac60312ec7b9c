import { randomUUID } from "node:crypto";
import { createServer, Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ProductSnapshot } from "../../lib/contracts/catalog";
import { jaegerHexId } from "../../lib/observability/tracing";
import CartService from "../../services/cart/cart.service";
import CatalogService from "../../services/catalog/catalog.service";
import InventoryService from "../../services/inventory/inventory.service";
import type { OrderView } from "../../services/orders/domain/order-view";
import { ordersService } from "../helpers/checkout";
import PaymentsService from "../../services/payments/payments.service";
import UsersService from "../../services/users/users.service";
import { channelsEnv, cleanUpChannels } from "../helpers/channels";
import { newCustomerToken, Platform, startPlatform } from "../helpers/platform";
import { adaptersFor, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * Tracing as an operator sees it in Jaeger: TRACING_EXPORTER=jaeger sends
 * the spans of a checkout — the gateway's HTTP span, the actions, and every
 * channel hop of the saga (orders → inventory → orders → payments → orders →
 * inventory) — to a Jaeger collector, here a stand-in HTTP endpoint that
 * decodes the Thrift batches the Jaeger client posts. Real users, catalog,
 * inventory, cart, orders and payments services (with the bundled sandbox
 * provider), on the in-process channels and on NATS JetStream.
 */

// jaeger-client's own Thrift definitions decode what it sends (no typings: required as is).
/* eslint-disable @typescript-eslint/no-require-imports */
const { Thrift } = require("thriftrw") as { Thrift: new (opts: object) => JaegerThrift };
const ThriftUtils = require("jaeger-client/dist/src/thrift").default as {
  loadJaegerThriftDefinition(): string;
};
/* eslint-enable @typescript-eslint/no-require-imports */

interface JaegerThrift {
  Batch: { rw: { readFrom(buffer: Buffer, offset: number): { err: Error | null; value: Batch } } };
}
interface Batch {
  process: { serviceName: string };
  spans: {
    traceIdLow: Buffer;
    traceIdHigh: Buffer;
    spanId: Buffer;
    parentSpanId: Buffer;
    operationName: string;
    tags: { key: string; vStr?: string | null }[] | null;
  }[];
}

/** A span as the collector received it; ids in hex, no parent for a root. */
interface CollectedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentId: string | null;
  tags: Record<string, string>;
}

/** Stands in for a Jaeger collector's HTTP endpoint (POST /api/traces, Thrift binary batches). */
class JaegerCollectorStandIn {
  readonly spans: CollectedSpan[] = [];
  private readonly thrift = new Thrift({
    source: ThriftUtils.loadJaegerThriftDefinition(),
    allowOptionalArguments: true,
  });
  private server?: Server;

  async listen(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.url === "/api/traces" && req.method === "POST") this.receive(Buffer.concat(chunks));
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/api/traces`;
  }

  inTrace(traceId: string): CollectedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private receive(body: Buffer): void {
    const { err, value } = this.thrift.Batch.rw.readFrom(body, 0);
    if (err) throw err;
    for (const s of value.spans) {
      const parent = s.parentSpanId.toString("hex");
      this.spans.push({
        service: value.process.serviceName,
        name: s.operationName,
        traceId: s.traceIdHigh.toString("hex") + s.traceIdLow.toString("hex"),
        spanId: s.spanId.toString("hex"),
        parentId: /^0+$/.test(parent) ? null : parent,
        tags: Object.fromEntries((s.tags ?? []).map((t) => [t.key, String(t.vStr ?? "")])),
      });
    }
  }
}

const PASSWORD = "correct horse battery staple";
const REJECTED_INPUT = "not-an-email-7f3e9a";
const ADDRESS = {
  name: "Sam Shopper",
  line1: "1 Tracing Lane",
  city: "Springfield",
  postalCode: "12345",
  country: "US",
};

describe.each(adaptersFor("nats"))("tracing a checkout (%s channels)", (adapter) => {
  const channelsPrefix = uniqueName("tracing");
  const collector = new JaegerCollectorStandIn();
  let platform: Platform;
  let categoryId: string;

  beforeAll(async () => {
    const endpoint = await collector.listen();
    platform = await startPlatform({
      services: [
        UsersService,
        CatalogService,
        InventoryService,
        CartService,
        ordersService(0),
        PaymentsService,
      ],
      env: {
        TRACING_EXPORTER: "jaeger",
        JAEGER_ENDPOINT: endpoint,
        TRACING_SAMPLE_RATE: "1",
        PAYMENT_GATEWAY_API_KEY: "sk_test_tracing",
        PAYMENT_WEBHOOK_SECRET: "whsec_tracing",
        RATE_LIMIT_MAX: "0",
        AUTH_RATE_LIMIT_MAX: "0",
        RESERVATION_SWEEP_INTERVAL_MS: "0",
        ...channelsEnv(adapter, channelsPrefix),
        CHANNELS_ACK_WAIT_MS: "10000",
      },
    });
    const category = await platform.broker.call<{ id: string }, object>("catalog.createCategory", {
      name: `Category ${uniqueName("c")}`,
    });
    categoryId = category.id;
  });

  afterAll(async () => {
    await platform?.stop();
    await collector.close();
    if (adapter !== "embedded") await cleanUpChannels(adapter, channelsPrefix);
  });

  async function newProduct(amount: number): Promise<string> {
    const product = await platform.broker.call<ProductSnapshot, object>("catalog.createProduct", {
      sku: uniqueName("SKU").replace(/_/g, "-"),
      name: `Product ${uniqueName("p")}`,
      description: "Something to trace.",
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

  const byName = (spans: CollectedSpan[], service: string, name: string) =>
    spans.find((s) => s.service === service && s.name === name);

  it("records one trace per checkout: the HTTP request, the services and every channel hop", async () => {
    // A refused request: its validation error repeats the rejected input, which spans must not.
    const refusedId = randomUUID();
    const refused = await platform.request("POST", "/auth/register", {
      headers: { "X-Request-ID": refusedId },
      body: { email: REJECTED_INPUT, password: PASSWORD, name: "Sam" },
    });
    expect(refused.status).toBe(400);
    const token = await newCustomerToken(platform, PASSWORD);
    const productId = await newProduct(2500);
    const requestId = randomUUID();
    const placed = await platform.request<OrderView>("POST", "/orders", {
      token,
      headers: { "Idempotency-Key": randomUUID(), "X-Request-ID": requestId },
      body: {
        lines: [{ productId, quantity: 1 }],
        shippingAddress: ADDRESS,
        paymentMethod: { type: "card", token: "tok_visa" },
      },
    });
    expect(placed.status).toBe(201);
    await waitFor(
      async () =>
        (await platform.request<OrderView>("GET", `/orders/${placed.body.id}`, { token })).body
          .status === "CONFIRMED",
      { timeoutMs: 15_000, intervalMs: 100 },
    );

    // The request id, without its dashes, is the trace id an operator searches for.
    const traceId = requestId.replace(/-/g, "");
    const hops = {
      http: ["api", "POST /api/v1/orders"],
      placeOrder: ["orders", "action 'orders.placeOrder'"],
      pricing: ["catalog", "action 'catalog.getMany'"],
      reserve: ["inventory", "channel 'inventory.commands' ReserveStock"],
      reserved: ["orders", "channel 'inventory.events' StockReserved"],
      charge: ["payments", "channel 'payments.commands' ProcessPayment"],
      paid: ["orders", "channel 'payments.events' PaymentSucceeded"],
      commit: ["inventory", "channel 'inventory.commands' CommitStock"],
      cartClosed: ["cart", "channel 'orders.events' OrderCreated"],
    } as const;
    // Spans arrive in batches per service (about every second): wait for the whole trace.
    const spans = await waitFor(
      () => {
        const collected = collector.inTrace(traceId);
        for (const [service, name] of Object.values(hops))
          expect(byName(collected, service, name)).toBeDefined();
        // One root, the gateway's; every other span hangs off a span of the same trace.
        const ids = new Set(collected.map((s) => s.spanId));
        expect(collected.filter((s) => s.parentId === null).map((s) => s.name)).toEqual([
          "POST /api/v1/orders",
        ]);
        expect(collected.filter((s) => s.parentId !== null && !ids.has(s.parentId))).toEqual([]);
        return collected;
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    const span = (hop: keyof typeof hops) => byName(spans, hops[hop][0], hops[hop][1])!;

    // Each consumer's span is the child of the span that enqueued its message.
    expect(span("placeOrder").parentId).toBe(span("http").spanId);
    expect(span("pricing").parentId).toBe(span("placeOrder").spanId);
    expect(span("reserve").parentId).toBe(span("placeOrder").spanId);
    expect(span("cartClosed").parentId).toBe(span("placeOrder").spanId);
    expect(span("reserved").parentId).toBe(span("reserve").spanId);
    expect(span("charge").parentId).toBe(span("reserved").spanId);
    expect(span("paid").parentId).toBe(span("charge").spanId);
    expect(span("commit").parentId).toBe(span("paid").spanId);

    // Channel spans name their message; no span carries a request body or a payload.
    expect(span("reserve").tags).toMatchObject({
      "message.type": "ReserveStock",
      "message.aggregateId": placed.body.id,
    });
    // The refused request's spans (gateway and users, both failed) are in too.
    await waitFor(() => collector.inTrace(refusedId.replace(/-/g, "")).length === 2, {
      timeoutMs: 5000,
      intervalMs: 200,
    });
    for (const secret of [PASSWORD, REJECTED_INPUT, "tok_visa", ADDRESS.line1]) {
      const leaking = collector.spans.filter((s) => JSON.stringify(s).includes(secret));
      expect(leaking.map((s) => `${s.service}: ${s.name}`)).toEqual([]);
    }
  });

  it("keeps a client's request id that is not hex as one trace", async () => {
    const productId = await newProduct(900);
    const requestId = "storefront:checkout-page.42";
    const res = await platform.request("GET", `/products/${productId}`, {
      headers: { "X-Request-ID": requestId },
    });
    expect(res.status).toBe(200);
    expect(res.headers["x-request-id"]).toBe(requestId);

    const spans = await waitFor(
      () => {
        const collected = collector.inTrace(jaegerHexId(requestId, 32));
        expect(collected.map((s) => s.service).sort()).toEqual(["api", "catalog"]);
        return collected;
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    const http = spans.find((s) => s.service === "api")!;
    expect(spans.find((s) => s.service === "catalog")!.parentId).toBe(http.spanId);
    expect(http.tags.requestID).toBe(requestId);
  });
});
