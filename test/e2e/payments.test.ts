import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { ServiceSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import type { PaymentEventPayload, ProcessPaymentCommand } from "../../lib/contracts/orders";
import { infrastructureOf } from "../../lib/infra";
import type { RelationalDatabase } from "../../lib/infra/relational";
import { durableChannel } from "../../lib/messaging/channel";
import { createEnvelope, headersFor, MessageEnvelope } from "../../lib/messaging/envelope";
import { EventTypes, PaymentCommandTypes, Topics } from "../../lib/messaging/topics";
import { signatureHeader } from "../../lib/security/webhook-signature";
import PaymentsService from "../../services/payments/payments.service";
import { createSandboxProvider, SandboxProvider } from "../../services/payments/sandbox/server";
import UsersService from "../../services/users/users.service";
import { cleanUpChannels } from "../helpers/channels";
import {
  accessTokenFor,
  newCustomerToken,
  Platform,
  startPlatform,
  withRealServers,
} from "../helpers/platform";
import { adaptersFor, servers, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * Payments over HTTP through the real gateway: reading a payment (owner,
 * admin, anyone else), the provider's webhook endpoint (signature checked
 * before anything is queued), the card-data guard on every JSON body, and the
 * all-in-one node that runs the sandbox provider itself. Embedded, and on
 * MariaDB + Redis when TEST_MYSQL_URL and TEST_REDIS_URL are set.
 */
const available = adaptersFor("mysql", "redis");
const modes =
  available.includes("mysql") && available.includes("redis")
    ? ["embedded", "mariadb+redis"]
    : ["embedded"];

const PASSWORD = "correct horse battery staple";
const API_KEY = "sk_test_payments_e2e";
const WEBHOOK_SECRET = "whsec_payments_e2e";

interface ErrorBody {
  error: { type: string; message: string; code: number; details: { field?: string }[] };
}

interface CallbackCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

/** Stands in for the orders service: records the payments events the saga would act on. */
function ordersSagaStandIn() {
  const events: MessageEnvelope<PaymentEventPayload>[] = [];
  const schema: ServiceSchema = {
    name: "orders-saga-stand-in",
    channels: {
      [Topics.PaymentsEvents]: durableChannel<PaymentEventPayload>(Topics.PaymentsEvents, {
        group: "orders-saga-stand-in",
        handler(envelope) {
          events.push(envelope);
        },
      }),
    },
  };
  return { schema, events };
}

/** Sends ProcessPayment as the orders saga does. */
async function requestPayment(platform: Platform, command: ProcessPaymentCommand): Promise<void> {
  const envelope = createEnvelope({
    type: PaymentCommandTypes.ProcessPayment,
    aggregateId: command.orderId,
    payload: command,
  });
  await platform.broker.sendToChannel(Topics.PaymentsCommands, envelope, {
    key: command.orderId,
    headers: { ...headersFor(envelope, { source: "orders" }) },
  });
}

const paymentCommand = (
  orderId: string,
  userId: string,
  method: ProcessPaymentCommand["method"],
): ProcessPaymentCommand => ({
  orderId,
  userId,
  amount: { amount: 4999, currency: "EUR" },
  method,
  lines: [
    {
      productId: "p-lamp",
      sku: "LAMP-1",
      name: "Desk lamp",
      quantity: 1,
      unitPrice: { amount: 4999, currency: "EUR" },
      lineTotal: { amount: 4999, currency: "EUR" },
    },
  ],
});

describe.each(modes)("payments end to end (%s)", (mode) => {
  const adminEmail = `${uniqueName("admin")}@example.com`;
  const adminPassword = randomBytes(18).toString("base64url");
  const channelsPrefix = uniqueName("payments-e2e");
  const real = mode === "embedded" ? undefined : withRealServers("mysql", "redis");
  const saga = ordersSagaStandIn();
  const logLines: string[] = [];
  let sandbox: SandboxProvider;
  let platform: Platform;
  let api: Platform["request"];
  let customer: { token: string; id: string };
  let other: { token: string; id: string };
  let admin: string;

  beforeAll(async () => {
    // The node's log lines are kept (and not printed) so tests can search them.
    for (const level of ["log", "info", "warn", "error", "debug"] as const)
      jest.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        logLines.push(args.map((a) => (typeof a === "string" ? a : String(a))).join(" "));
      });
    sandbox = createSandboxProvider({
      apiKey: API_KEY,
      webhookSecret: WEBHOOK_SECRET,
      asyncDelayMs: 0,
    });
    platform = await startPlatform({
      services: [UsersService, PaymentsService, saga.schema],
      env: {
        LOG_LEVEL: "info",
        RATE_LIMIT_MAX: "0",
        AUTH_RATE_LIMIT_MAX: "0",
        ADMIN_EMAIL: adminEmail,
        ADMIN_PASSWORD: adminPassword,
        CHANNELS_PREFIX: channelsPrefix,
        PAYMENT_GATEWAY_URL: await sandbox.listen(0),
        PAYMENT_GATEWAY_API_KEY: API_KEY,
        PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
        ...(real ? { ...real.env, CHANNELS_URL: servers.redis! } : {}),
      },
    });
    api = platform.request;
    await fetch(`${sandbox.url}/v1/webhook_endpoints`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ url: `${platform.baseUrl}/payments/webhooks/sandbox` }),
    });
    customer = await signedUpCustomer();
    other = await signedUpCustomer();
    admin = await accessTokenFor(platform, adminEmail, adminPassword);
  });

  afterAll(async () => {
    await platform?.stop();
    await sandbox?.close();
    await real?.cleanup();
    if (real) await cleanUpChannels("redis", channelsPrefix);
    jest.restoreAllMocks();
  });

  async function signedUpCustomer(): Promise<{ token: string; id: string }> {
    const token = await newCustomerToken(platform, PASSWORD);
    const me = await api<{ id: string }>("GET", "/users/me", { token });
    return { token, id: me.body.id };
  }

  async function paidOrder(userId: string): Promise<{ orderId: string; paymentId: string }> {
    const orderId = randomUUID();
    await requestPayment(
      platform,
      paymentCommand(orderId, userId, { type: "card", token: "tok_visa" }),
    );
    const succeeded = await waitFor(() => saga.events.find((e) => e.aggregateId === orderId), {
      timeoutMs: 15_000,
    });
    expect(succeeded.type).toBe(EventTypes.PaymentSucceeded);
    return { orderId, paymentId: succeeded.payload.paymentId };
  }

  const callbacks = async () =>
    (await platform.broker.call<{ queues: Record<string, CallbackCounts> }>("payments.status"))
      .queues["payment-callbacks"];
  const webhook = (body: string, headers: Record<string, string>, provider = "sandbox") =>
    api<ErrorBody & { received?: boolean }>("POST", `/payments/webhooks/${provider}`, {
      body,
      headers,
    });
  const signed = (body: string, at?: number) => ({
    "sandbox-signature": signatureHeader(body, WEBHOOK_SECRET, at),
  });

  it("shows a payment to its owner (by payment or order id) and to admins; to anyone else it does not exist", async () => {
    const { orderId, paymentId } = await paidOrder(customer.id);

    const own = await api<Record<string, unknown>>("GET", `/payments/${paymentId}`, {
      token: customer.token,
    });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({
      id: paymentId,
      orderId,
      userId: customer.id,
      status: "SUCCEEDED",
      amount: { amount: 4999, currency: "EUR" },
      method: "card",
      card: { brand: "visa", last4: "4242" },
      receiptNumber: expect.stringMatching(/^R-\d{8}-[0-9A-F]{12}$/),
    });
    expect(JSON.stringify(own.body)).not.toContain("tok_visa");
    expect((await api("GET", `/payments/${orderId}`, { token: customer.token })).body).toEqual(
      own.body,
    );
    expect((await api("GET", `/payments/${paymentId}`, { token: admin })).body).toEqual(own.body);

    const stranger = await api<ErrorBody>("GET", `/payments/${paymentId}`, { token: other.token });
    const missing = await api<ErrorBody>("GET", `/payments/${randomUUID()}`, {
      token: other.token,
    });
    expect(stranger.status).toBe(404);
    expect(stranger.body.error).toMatchObject({ type: "NOT_FOUND", message: "Payment not found" });
    // Someone else's payment reads exactly like one that does not exist.
    expect({ ...stranger.body.error, requestId: "" }).toEqual({
      ...missing.body.error,
      requestId: "",
    });

    expect((await api("GET", `/payments/${paymentId}`)).status).toBe(401);
    const bad = await api<ErrorBody>("GET", "/payments/not%20an%20id", { token: customer.token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0]).toMatchObject({ field: "id" });
  });

  it("refuses a webhook whose signature does not verify, and queues nothing", async () => {
    const before = await callbacks();
    const body = JSON.stringify({
      id: `evt_${uniqueName("forged")}`,
      object: "event",
      type: "charge.succeeded",
      created: Math.floor(Date.now() / 1000),
      data: {
        object: {
          id: "ch_forged",
          object: "charge",
          status: "succeeded",
          amount: 1,
          currency: "eur",
        },
      },
    });
    const forged = [
      {}, // no signature
      { "sandbox-signature": signatureHeader(body, "whsec_guessed") },
      { "sandbox-signature": "t=1,v1=deadbeef" },
      signed(body, Math.floor(Date.now() / 1000) - 600), // a replay from ten minutes ago
      signed(body.replace("succeeded", "failed")), // signed for another body
    ];
    for (const headers of forged) {
      const res = await webhook(body, headers);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ type: "VALIDATION" });
      expect(res.body.error.message).toMatch(/invalid_signature/);
    }
    expect(await callbacks()).toEqual(before);

    // Signed, but not an event; and a provider nobody configured.
    const notJson = "this is not json";
    expect((await webhook(notJson, signed(notJson))).status).toBe(400);
    expect((await webhook(body, signed(body), "paypal")).status).toBe(404);
    expect(await callbacks()).toEqual(before);
  });

  it("accepts a signed webhook at once and applies it from the queue", async () => {
    const orderId = randomUUID();
    await requestPayment(platform, paymentCommand(orderId, customer.id, { type: "bank_transfer" }));
    await waitFor(() => saga.events.some((e) => e.aggregateId === orderId), { timeoutMs: 15_000 });
    const charges = await fetch(`${sandbox.url}/v1/test_helpers/charges?order_id=${orderId}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    }).then((r) => r.json() as Promise<{ data: Record<string, unknown>[] }>);
    const [charge] = charges.data;

    // The provider's own delivery of the settlement, replayed here as it was signed.
    const body = JSON.stringify({
      id: `evt_${uniqueName("settled")}`,
      object: "event",
      type: "charge.succeeded",
      created: Math.floor(Date.now() / 1000),
      data: { object: { ...charge, status: "succeeded", paid: true } },
    });
    const res = await webhook(body, { ...signed(body), "content-type": "application/json" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: true });
    await waitFor(() => saga.events.filter((e) => e.aggregateId === orderId).length === 2, {
      timeoutMs: 15_000,
    });
    expect(
      (await api<{ status: string }>("GET", `/payments/${orderId}`, { token: customer.token }))
        .body,
    ).toMatchObject({ status: "SUCCEEDED" });
    expect(saga.events.filter((e) => e.aggregateId === orderId).map((e) => e.type)).toEqual([
      EventTypes.PaymentPending,
      EventTypes.PaymentSucceeded,
    ]);
  });

  it("refuses card numbers and security codes in any JSON body before an action runs; the number is neither stored nor logged", async () => {
    const pan = "4000 0566 5566 5556";
    const email = `${uniqueName("carder")}@example.com`;
    const refused = await api<ErrorBody>("POST", "/auth/register", {
      body: { email, password: PASSWORD, name: pan },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      type: "VALIDATION",
      message: expect.stringMatching(/card numbers and security codes are not accepted/i),
      details: [{ field: "name" }],
    });
    // The action never ran: there is no such account.
    expect((await api("POST", "/auth/login", { body: { email, password: PASSWORD } })).status).toBe(
      401,
    );

    const withCvc = await api<ErrorBody>("POST", "/auth/login", {
      body: { email, password: PASSWORD, paymentMethod: { type: "card", cvc: "123" } },
    });
    expect(withCvc.status).toBe(400);
    expect(withCvc.body.error.details).toEqual([
      expect.objectContaining({ field: "paymentMethod.cvc" }),
    ]);

    // Long numbers that are not card numbers pass (this one fails the Luhn check).
    const fine = await api("POST", "/auth/register", {
      body: {
        email: `${uniqueName("ok")}@example.com`,
        password: PASSWORD,
        name: "4000056655665557",
      },
    });
    expect(fine.status).toBe(201);

    const { db } = platform.broker.getLocalService("users") as unknown as {
      db: RelationalDatabase;
    };
    const users = await db.sequelize.query("SELECT * FROM users", { type: QueryTypes.SELECT });
    const logs = logLines.join("\n");
    for (const form of [pan, pan.replace(/ /g, "")]) {
      expect(JSON.stringify(users)).not.toContain(form);
      expect(logs).not.toContain(form);
    }
    // The requests themselves were logged: the search above looked at real lines.
    expect(logs).toContain("/api/v1/auth/register");
  });

  it("documents GET /payments/{id} and keeps the webhook action off the JSON API", async () => {
    const doc = await api<{ paths: Record<string, Record<string, unknown>> }>(
      "GET",
      "/openapi.json",
    );
    expect(doc.body.paths["/payments/{id}"]).toHaveProperty("get");
    expect(Object.keys(doc.body.paths).filter((p) => p.includes("webhooks"))).toEqual([]);
  });
});

describe("payments on the all-in-one node (bundled sandbox provider)", () => {
  const saga = ordersSagaStandIn();
  let platform: Platform;

  beforeAll(async () => {
    jest.spyOn(console, "warn").mockImplementation(() => undefined);
    // The gateway's port must be known before start: the sandbox sends webhooks there.
    platform = await startPlatform({
      services: [PaymentsService, saga.schema],
      env: { PORT: String(await freePort()), CHANNELS_PREFIX: uniqueName("payments-aio") },
    });
  });

  afterAll(async () => {
    await platform?.stop();
    jest.restoreAllMocks();
  });

  it("starts the sandbox itself with secrets generated under DATA_DIR, and completes a bank transfer through its webhook", async () => {
    const { config } = infrastructureOf(platform.broker);
    const secrets = JSON.parse(
      fs.readFileSync(path.join(config.dataDir, "keys", "payment-sandbox.json"), "utf8"),
    ) as { apiKey: string; webhookSecret: string };
    expect(secrets.apiKey).toMatch(/^sk_test_/);
    const status = await platform.broker.call<{ provider: { url: string; circuit: string } }>(
      "payments.status",
    );
    expect(status.provider).toMatchObject({
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      circuit: "closed",
    });

    const orderId = randomUUID();
    await requestPayment(
      platform,
      paymentCommand(orderId, randomUUID(), { type: "bank_transfer" }),
    );
    await waitFor(() => saga.events.some((e) => e.aggregateId === orderId), { timeoutMs: 15_000 });
    const sandboxApi = (method: string, urlPath: string, body?: object) =>
      fetch(status.provider.url + urlPath, {
        method,
        headers: { authorization: `Bearer ${secrets.apiKey}`, "content-type": "application/json" },
        body: body ? JSON.stringify(body) : undefined,
      }).then((r) => r.json() as Promise<{ data: { id: string }[] }>);
    const [charge] = (await sandboxApi("GET", `/v1/test_helpers/charges?order_id=${orderId}`)).data;
    await sandboxApi("POST", `/v1/test_helpers/charges/${charge.id}/settle`, {
      outcome: "succeeded",
    });

    const succeeded = await waitFor(
      () =>
        saga.events.find(
          (e) => e.aggregateId === orderId && e.type === EventTypes.PaymentSucceeded,
        ),
      { timeoutMs: 15_000 },
    );
    expect(succeeded.payload).toMatchObject({ status: "SUCCEEDED", method: "bank_transfer" });
  });
});

/** A port free right now (the gateway of the all-in-one test takes it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
