import { randomUUID } from "node:crypto";
import type { ServiceSchema } from "moleculer";
import type { ProductSnapshot, StockLevel } from "../../lib/contracts/catalog";
import CartService from "../../services/cart/cart.service";
import CatalogService from "../../services/catalog/catalog.service";
import InventoryService from "../../services/inventory/inventory.service";
import DeadLettersService from "../../services/ops/dead-letters.service";
import type { OrderView } from "../../services/orders/domain/order-view";
import OrdersService from "../../services/orders/orders.service";
import PaymentsService from "../../services/payments/payments.service";
import { createSandboxProvider, SandboxProvider } from "../../services/payments/sandbox/server";
import UsersService from "../../services/users/users.service";
import { accessTokenFor, newCustomerToken, Platform, PlatformResponse } from "./platform";
import { uniqueName } from "./servers";
import { waitFor } from "./wait";

/**
 * Shared by the checkout suites: the services a storefront checkout crosses
 * (users, catalog, inventory, cart, orders, payments, dead letters), the
 * sandbox payment provider run beside the node as a real provider would be,
 * a client for the sandbox's own books and test helpers, and a storefront
 * that does over HTTP what a shop front end and its admin do.
 */

export const SANDBOX_API_KEY = "sk_test_checkout";
export const SANDBOX_WEBHOOK_SECRET = "whsec_checkout";
export const CUSTOMER_PASSWORD = "correct horse battery staple";
export const SHIPPING_ADDRESS = {
  name: "Sam Shopper",
  line1: "1 Main Street",
  city: "Berlin",
  postalCode: "10115",
  country: "DE",
};

/** The orders service with its overdue-payment sweeper every `sweepMs` (0: never). */
export function ordersService(sweepMs: number): ServiceSchema {
  return {
    name: "orders",
    mixins: [OrdersService],
    settings: { overdueSweepIntervalMs: sweepMs },
  } as ServiceSchema;
}

/** The services of a checkout, the orders sweeper looking for overdue payments every `sweepMs`. */
export function checkoutServices({ sweepMs }: { sweepMs: number }): ServiceSchema[] {
  return [
    UsersService,
    CatalogService,
    InventoryService,
    CartService,
    ordersService(sweepMs),
    PaymentsService,
    DeadLettersService as unknown as ServiceSchema,
  ];
}

// ---- the sandbox provider

export interface SandboxRefund {
  id: string;
  amount: number;
  charge: string;
}

/** A charge as the sandbox's books hold it, with its refunds. */
export interface SandboxCharge {
  id: string;
  status: "succeeded" | "pending" | "failed";
  amount: number;
  currency: string;
  paid: boolean;
  refunded: boolean;
  amount_refunded: number;
  metadata: Record<string, string>;
  refunds: SandboxRefund[];
}

export interface SandboxEvent {
  id: string;
  type: string;
  deliveries: { url: string; attempts: number; lastStatus: number | null; delivered: boolean }[];
}

/** The sandbox's API, as an operator or a test reads it (its own books, not ours). */
export class SandboxClient {
  constructor(
    readonly url: string,
    private readonly apiKey = SANDBOX_API_KEY,
  ) {}

  /** Every charge made for the order, failed ones included, oldest first. */
  async charges(orderId: string): Promise<SandboxCharge[]> {
    const list = await this.call<{ data: SandboxCharge[] }>(
      "GET",
      `/v1/test_helpers/charges?order_id=${encodeURIComponent(orderId)}`,
    );
    return list.data;
  }

  /** Settles a pending charge now; the provider announces it by webhook. */
  async settle(chargeId: string, outcome: "succeeded" | "failed" = "succeeded"): Promise<void> {
    await this.call("POST", `/v1/test_helpers/charges/${chargeId}/settle`, { outcome });
  }

  /** Every event about a charge, with its webhook deliveries. */
  async events(chargeId: string): Promise<SandboxEvent[]> {
    const list = await this.call<{ data: SandboxEvent[] }>(
      "GET",
      `/v1/test_helpers/events?charge=${chargeId}`,
    );
    return list.data;
  }

  /** Delivers an event to the webhook endpoints again, as a provider retrying would. */
  async resend(eventId: string): Promise<void> {
    await this.call("POST", `/v1/test_helpers/events/${eventId}/resend`);
  }

  async addWebhookEndpoint(url: string): Promise<void> {
    await this.call("POST", "/v1/webhook_endpoints", { url });
  }

  private async call<T>(method: string, path: string, body?: object): Promise<T> {
    const res = await fetch(this.url + path, {
      method,
      headers: { authorization: `Bearer ${this.apiKey}`, "content-type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`Sandbox ${method} ${path} answered ${res.status}: ${text}`);
    return JSON.parse(text) as T;
  }
}

export interface RunningSandbox {
  provider: SandboxProvider;
  client: SandboxClient;
  /** Env that points a payments node at it. */
  env: Record<string, string>;
}

/**
 * The sandbox provider on its own port. Pending charges (tok_async,
 * bank_transfer) settle only through the settle helper, never by themselves,
 * so a test decides when — or whether — a late payment arrives. tok_slow
 * answers after `slowMs`.
 */
export async function startSandbox({ slowMs }: { slowMs?: number } = {}): Promise<RunningSandbox> {
  const provider = createSandboxProvider({
    apiKey: SANDBOX_API_KEY,
    webhookSecret: SANDBOX_WEBHOOK_SECRET,
    asyncDelayMs: 0,
    webhookRetryDelayMs: 100,
    slowMs,
  });
  const url = await provider.listen(0);
  return {
    provider,
    client: new SandboxClient(url),
    env: {
      PAYMENT_GATEWAY_URL: url,
      PAYMENT_GATEWAY_API_KEY: SANDBOX_API_KEY,
      PAYMENT_WEBHOOK_SECRET: SANDBOX_WEBHOOK_SECRET,
    },
  };
}

// ---- the storefront

export interface ErrorBody {
  error: {
    type: string;
    message: string;
    code: number;
    details: { field?: string; message: string }[];
  };
}

export type OrderBody = OrderView & ErrorBody;

export interface Shopper {
  id: string;
  token: string;
}

export type PaymentMethod =
  { type: "card"; token: string } | { type: "cash_on_delivery" } | { type: "bank_transfer" };

export const card = (token: string): PaymentMethod => ({ type: "card", token });

/** An order of explicit lines, shipped to SHIPPING_ADDRESS. */
export function orderOf(
  lines: { productId: string; quantity: number }[],
  paymentMethod: PaymentMethod,
): object {
  return { lines, shippingAddress: SHIPPING_ADDRESS, paymentMethod };
}

export const steps = (order: OrderView): string[] => order.timeline.map((s) => s.step);

/**
 * Done with: CONFIRMED with its stock committed, or CANCELLED with its
 * reservation rejected or given back. (The order's status is final earlier;
 * the stock follows through inventory's answer.)
 */
export function isSettled(order: OrderView): boolean {
  const done = steps(order);
  if (order.status === "CONFIRMED") return done.includes("STOCK_COMMITTED");
  if (order.status !== "CANCELLED") return false;
  return done.includes("STOCK_REJECTED") || done.includes("STOCK_RELEASED");
}

/** What a shop front end and its admin do, over the platform's HTTP API. */
export class Storefront {
  private constructor(
    private readonly platform: Platform,
    /** The admin's access token. */
    readonly admin: string,
    private readonly categoryId: string,
  ) {}

  /** Logs the admin in and makes a category for this storefront's products. */
  static async open(platform: Platform, adminEmail: string, adminPassword: string) {
    const admin = await accessTokenFor(platform, adminEmail, adminPassword);
    const category = await platform.request<{ id: string }>("POST", "/categories", {
      token: admin,
      body: { name: `Category ${uniqueName("c")}` },
    });
    if (category.status !== 201) throw new Error(`POST /categories answered ${category.status}`);
    return new Storefront(platform, admin, category.body.id);
  }

  get api(): Platform["request"] {
    return this.platform.request;
  }

  /** An active product at `amount` minor units of EUR with `onHand` units in stock. */
  async product(amount: number, onHand: number): Promise<string> {
    const created = await this.api<ProductSnapshot>("POST", "/products", {
      token: this.admin,
      body: {
        sku: uniqueName("SKU").replace(/_/g, "-"),
        name: `Product ${uniqueName("p")}`,
        description: "Something to check out.",
        brand: "Acme",
        categoryId: this.categoryId,
        price: { amount, currency: "EUR" },
        status: "active",
      },
    });
    if (created.status !== 201) throw new Error(`POST /products answered ${created.status}`);
    const stocked = await this.api("PUT", `/products/${created.body.id}/stock`, {
      token: this.admin,
      body: { onHand },
    });
    if (stocked.status !== 200) throw new Error(`PUT stock answered ${stocked.status}`);
    return created.body.id;
  }

  /** The product's stock level, as the admin reads it. */
  async stock(productId: string): Promise<StockLevel> {
    const res = await this.api<StockLevel>("GET", `/products/${productId}/stock`, {
      token: this.admin,
    });
    if (res.status !== 200) throw new Error(`GET stock answered ${res.status}`);
    return res.body;
  }

  /** A newly registered customer, signed in. */
  async shopper(): Promise<Shopper> {
    const token = await newCustomerToken(this.platform, CUSTOMER_PASSWORD);
    const me = await this.api<{ id: string }>("GET", "/users/me", { token });
    return { id: me.body.id, token };
  }

  placeOrder(
    who: Shopper,
    body: object,
    key: string = randomUUID(),
  ): Promise<PlatformResponse<OrderBody>> {
    return this.api<OrderBody>("POST", "/orders", {
      token: who.token,
      body,
      headers: { "Idempotency-Key": key },
    });
  }

  /** Places an order and expects it accepted (201); returns the order as first answered. */
  async checkout(who: Shopper, body: object, key?: string): Promise<OrderView> {
    const res = await this.placeOrder(who, body, key);
    if (res.status !== 201)
      throw new Error(`POST /orders answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body;
  }

  order(who: Shopper, orderId: string): Promise<PlatformResponse<OrderBody>> {
    return this.api<OrderBody>("GET", `/orders/${orderId}`, { token: who.token });
  }

  /** Polls GET /orders/:id until `done` holds; returns that order. */
  awaitOrder(
    who: Shopper,
    orderId: string,
    done: (order: OrderView) => boolean = isSettled,
    timeoutMs = 15_000,
  ): Promise<OrderView> {
    return waitFor(
      async () => {
        const res = await this.order(who, orderId);
        if (res.status !== 200) throw new Error(`GET /orders/${orderId} answered ${res.status}`);
        if (done(res.body)) return res.body;
        // Thrown rather than returned: a timeout then says where the order got stuck.
        throw new Error(`order ${orderId} is ${res.body.status}: ${steps(res.body).join(" → ")}`);
      },
      { timeoutMs, intervalMs: 50 },
    );
  }
}
