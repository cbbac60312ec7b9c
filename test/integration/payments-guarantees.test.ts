import { randomUUID } from "node:crypto";
import type { ServiceSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { signAccessToken } from "../../lib/auth/jwt";
import type {
  PaymentEventPayload,
  PaymentMethodInput,
  ProcessPaymentCommand,
  Receipt,
  RefundPaymentCommand,
} from "../../lib/contracts/orders";
import { infrastructureOf } from "../../lib/infra";
import type { RelationalDatabase } from "../../lib/infra/relational";
import { durableChannel } from "../../lib/messaging/channel";
import { createEnvelope, headersFor, MessageEnvelope } from "../../lib/messaging/envelope";
import { dlqTopic, EventTypes, PaymentCommandTypes, Topics } from "../../lib/messaging/topics";
import { signatureHeader } from "../../lib/security/webhook-signature";
import PaymentsService from "../../services/payments/payments.service";
import { PaymentsRepository } from "../../services/payments/payments-repository";
import { createSandboxProvider, SandboxProvider } from "../../services/payments/sandbox/server";
import { cleanUpChannels } from "../helpers/channels";
import { Platform, startPlatform, withRealServers } from "../helpers/platform";
import { adaptersFor, servers, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * What the payments service guarantees the checkout saga, proven through the
 * real broker, the real gateway and the sandbox provider over HTTP —
 * embedded, and on MariaDB + Redis (BullMQ queues, channels on Redis
 * Streams). A test driver stands in for the orders service: it sends
 * ProcessPayment / RefundPayment on payments.commands as the saga does and
 * reads payments.events. Charges are counted in the sandbox's own books.
 */
const available = adaptersFor("mysql", "redis");
const modes =
  available.includes("mysql") && available.includes("redis")
    ? ["embedded", "mariadb+redis"]
    : ["embedded"];

const API_KEY = "sk_test_payments_suite";
const WEBHOOK_SECRET = "whsec_payments_suite";
/** tok_slow answers after SLOW_MS; the client gives up on a request after TIMEOUT_MS and asks again. */
const SLOW_MS = 700;
const TIMEOUT_MS = 400;

type PaymentEvent = MessageEnvelope<PaymentEventPayload>;

interface SandboxCharge {
  id: string;
  status: string;
  amount: number;
  refunded: boolean;
  refunds: { id: string }[];
}

interface QueueReport {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
  failedJobs: { id: string; attemptsMade: number; failedReason: string }[];
}

interface StatusReport {
  provider: { circuit: string };
  queues: { "payment-callbacks": QueueReport };
}

/** Stands in for the orders service: sends its commands, records the payments events it would act on. */
function ordersSagaStandIn() {
  const events: PaymentEvent[] = [];
  const deadLetters: unknown[] = [];
  const schema: ServiceSchema = {
    name: "orders-saga-stand-in",
    channels: {
      [Topics.PaymentsEvents]: durableChannel<PaymentEventPayload>(Topics.PaymentsEvents, {
        group: "orders-saga-stand-in",
        handler(envelope) {
          events.push(envelope);
        },
      }),
      [dlqTopic(Topics.PaymentsCommands)]: {
        group: "orders-saga-stand-in-dlq",
        context: true,
        handler(ctx: { params: unknown }) {
          deadLetters.push(ctx.params);
        },
      },
    },
  };
  return { schema, events, deadLetters };
}

describe.each(modes)("payments guarantees (%s)", (mode) => {
  const channelsPrefix = uniqueName("payments");
  const real = mode === "embedded" ? undefined : withRealServers("mysql", "redis");
  const saga = ordersSagaStandIn();
  const userId = randomUUID();
  const logLines: string[] = [];
  let sandbox: SandboxProvider;
  let platform: Platform;
  let token: string;

  beforeAll(async () => {
    // Every log line of the node is kept (and not printed) so tests can search them.
    for (const level of ["log", "info", "warn", "error", "debug"] as const)
      jest.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        logLines.push(args.map((a) => (typeof a === "string" ? a : safeJson(a))).join(" "));
      });
    sandbox = createSandboxProvider({
      apiKey: API_KEY,
      webhookSecret: WEBHOOK_SECRET,
      slowMs: SLOW_MS,
      asyncDelayMs: 0,
      webhookRetryDelayMs: 100,
    });
    const sandboxUrl = await sandbox.listen(0);
    platform = await startPlatform({
      services: [PaymentsService, saga.schema],
      env: {
        // Production's level. (At debug, the channels library logs every message it publishes.)
        LOG_LEVEL: "info",
        RATE_LIMIT_MAX: "0",
        CHANNELS_PREFIX: channelsPrefix,
        CHANNELS_MAX_RETRIES: "2",
        // Redelivery (and so dead-lettering) within seconds; well above the slowest handler here.
        CHANNELS_ACK_WAIT_MS: "2000",
        CHANNELS_POLL_INTERVAL_MS: "200",
        PAYMENT_GATEWAY_URL: sandboxUrl,
        PAYMENT_GATEWAY_API_KEY: API_KEY,
        PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
        PAYMENT_GATEWAY_TIMEOUT_MS: String(TIMEOUT_MS),
        PAYMENT_GATEWAY_RETRIES: "3",
        PAYMENT_GATEWAY_BREAKER_THRESHOLD: "20",
        PAYMENT_WEBHOOK_ATTEMPTS: "3",
        PAYMENT_WEBHOOK_BACKOFF_MS: "150",
        ...(real ? { ...real.env, CHANNELS_URL: servers.redis! } : {}),
      },
    });
    // Where the provider sends webhooks: this node's gateway (known once it listens).
    await sandboxApi("POST", "/v1/webhook_endpoints", {
      url: `${platform.baseUrl}/payments/webhooks/sandbox`,
    });
    const infra = infrastructureOf(platform.broker);
    token = signAccessToken({ sub: userId, role: "customer" }, infra.signingKeys().privateKey!, {
      issuer: infra.config.jwtIssuer,
      audience: infra.config.jwtAudience,
      ttlSec: 900,
    });
  });

  afterAll(async () => {
    await platform?.stop();
    await sandbox?.close();
    await real?.cleanup();
    if (real) await cleanUpChannels("redis", channelsPrefix);
    jest.restoreAllMocks();
  });

  // ---- the stand-in saga's side

  async function send(type: string, payload: ProcessPaymentCommand | RefundPaymentCommand) {
    const envelope = createEnvelope({ type, aggregateId: payload.orderId, payload });
    await deliver(envelope);
    return envelope;
  }

  async function deliver(envelope: MessageEnvelope) {
    const headers = headersFor(envelope, {
      source: "orders",
      correlationId: `corr-${envelope.aggregateId}`,
      sagaId: envelope.aggregateId,
    });
    await platform.broker.sendToChannel(Topics.PaymentsCommands, envelope, {
      key: envelope.aggregateId,
      headers: { ...headers },
    });
  }

  const processPaymentCommand = (
    orderId: string,
    method: PaymentMethodInput,
    amount = 2599,
  ): ProcessPaymentCommand => ({
    orderId,
    userId,
    amount: { amount, currency: "EUR" },
    method,
    lines: [
      {
        productId: "p-mug",
        sku: "MUG-1",
        name: "Mug",
        quantity: 1,
        unitPrice: { amount, currency: "EUR" },
        lineTotal: { amount, currency: "EUR" },
      },
    ],
  });
  const processPayment = (orderId: string, method: PaymentMethodInput, amount = 2599) =>
    send(PaymentCommandTypes.ProcessPayment, processPaymentCommand(orderId, method, amount));
  const refundPayment = (orderId: string, reason = "PAYMENT_TIMEOUT") =>
    send(PaymentCommandTypes.RefundPayment, { orderId, reason });

  const eventsOf = (orderId: string) => saga.events.filter((e) => e.aggregateId === orderId);
  const typesOf = (orderId: string) => eventsOf(orderId).map((e) => e.type);
  /** Waits for the n-th payments event about an order. */
  const event = (orderId: string, n = 1) =>
    waitFor(() => eventsOf(orderId)[n - 1], { timeoutMs: 15_000 });

  // ---- what the payments service and the provider recorded

  const db = () =>
    (platform.broker.getLocalService("payments") as unknown as { db: RelationalDatabase }).db;
  const rows = <T extends object>(sql: string, replacements: unknown[] = []) =>
    db().sequelize.query<T>(sql, { replacements, type: QueryTypes.SELECT });
  const outboxTypes = async (orderId: string) =>
    (
      await rows<{ type: string }>(
        "SELECT type FROM outbox_events WHERE aggregate_id = ? ORDER BY id",
        [orderId],
      )
    ).map((r) => r.type);
  const attempts = async (orderId: string) =>
    rows<{ operation: string; outcome: string; http_status: number | null }>(
      `SELECT a.operation, a.outcome, a.http_status FROM payment_attempts a
       JOIN payments p ON p.id = a.payment_id WHERE p.order_id = ? ORDER BY a.attempt_no`,
      [orderId],
    );
  /**
   * The provider calls of a charge, once its answer is recorded. (The
   * provider's webhook may settle the payment before a slow answer arrives.)
   */
  const chargeAttempts = (orderId: string) =>
    waitFor(async () => {
      const found = await attempts(orderId);
      const last = found[found.length - 1]?.outcome;
      return last === "ok" || last === "declined" ? found : undefined;
    });
  /** Everything the payments database holds, as text (to prove what it does not hold). */
  async function wholeDatabase(): Promise<string> {
    const tables = [
      "payments",
      "payment_attempts",
      "refunds",
      "receipts",
      "outbox_events",
      "processed_messages",
    ];
    const dumps = await Promise.all(tables.map((t) => rows(`SELECT * FROM ${t}`)));
    return JSON.stringify(dumps);
  }

  async function sandboxApi<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: object,
  ): Promise<T> {
    const res = await fetch(sandbox.url + path, {
      method,
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    return (await res.json()) as T;
  }
  const chargesOf = async (orderId: string) =>
    (
      await sandboxApi<{ data: SandboxCharge[] }>(
        "GET",
        `/v1/test_helpers/charges?order_id=${orderId}`,
      )
    ).data;
  const settle = (chargeId: string, outcome: "succeeded" | "failed" = "succeeded") =>
    sandboxApi<{ event: { id: string } }>("POST", `/v1/test_helpers/charges/${chargeId}/settle`, {
      outcome,
    });

  const getPayment = (id: string) =>
    platform.request<Record<string, unknown>>("GET", `/payments/${id}`, { token });
  const status = () => platform.broker.call<StatusReport>("payments.status");
  /** Waits until no webhook job is waiting, running or due for a retry. */
  const callbacksIdle = () =>
    waitFor(
      async () => {
        const q = (await status()).queues["payment-callbacks"];
        return q.waiting + q.active + q.delayed === 0;
      },
      { timeoutMs: 15_000 },
    );

  /** Sends a webhook as the provider would, signed with the shared secret. */
  async function postWebhook(body: object) {
    const raw = JSON.stringify(body);
    return platform.request("POST", "/payments/webhooks/sandbox", {
      body: raw,
      headers: { "sandbox-signature": signatureHeader(raw, WEBHOOK_SECRET) },
    });
  }
  const newOrder = () => randomUUID();

  // ---- the guarantees

  it("charges a card once and answers PaymentSucceeded; the payment has a receipt; the token is stored nowhere", async () => {
    const orderId = newOrder();
    const paymentReads = jest.spyOn(PaymentsRepository.prototype, "findByOrderId");
    const command = await processPayment(orderId, { type: "card", token: "tok_visa" });

    const succeeded = await event(orderId);
    expect(succeeded).toMatchObject({
      type: EventTypes.PaymentSucceeded,
      aggregateId: orderId,
      payload: {
        orderId,
        userId,
        status: "SUCCEEDED",
        amount: { amount: 2599, currency: "EUR" },
        method: "card",
      },
    });
    const [charge] = await chargesOf(orderId);
    expect(charge).toMatchObject({ status: "succeeded", amount: 2599 });
    expect(succeeded.payload.providerReference).toBe(charge.id);

    const payment = await getPayment(orderId);
    expect(payment.status).toBe(200);
    expect(payment.body).toMatchObject({
      id: succeeded.payload.paymentId,
      status: "SUCCEEDED",
      card: { brand: "visa", last4: "4242" },
      providerReference: charge.id,
    });
    const receipt = await platform.broker.call<Receipt, object>("payments.receipt", {
      orderId,
      userId,
    });
    expect(receipt).toMatchObject({
      receiptNumber: (payment.body as { receiptNumber: string }).receiptNumber,
      orderId,
      paymentId: succeeded.payload.paymentId,
      total: { amount: 2599, currency: "EUR" },
      method: "card",
      providerReference: charge.id,
      lines: [{ productId: "p-mug", quantity: 1 }],
    });
    // The event carries the very receipt stored with it.
    expect(succeeded.payload.receipt).toEqual(receipt);
    // The sandbox's webhook for the charge, sent before its answer, waited for that answer
    // to be recorded: its check let it go, without a transaction (no inbox row), and on the
    // payment as the answer committed it, without reading it again.
    const webhooks = await waitFor(async () => {
      const events = await sandboxApi<{
        data: { id: string; deliveries: { delivered: boolean }[] }[];
      }>("GET", `/v1/test_helpers/events?charge=${charge.id}`);
      const delivered = events.data.every((e) => e.deliveries[0]?.delivered);
      return events.data.length > 0 && delivered ? events.data.map((e) => e.id) : undefined;
    });
    await callbacksIdle();
    expect(
      await rows(
        "SELECT message_id FROM processed_messages WHERE consumer = ? AND message_id IN (?)",
        ["payments.webhooks", webhooks],
      ),
    ).toEqual([]);
    expect(paymentReads.mock.calls.filter(([id]) => id === orderId)).toEqual([]);
    paymentReads.mockRestore();
    await expect(
      platform.broker.call("payments.receipt", { orderId, userId: randomUUID() }),
    ).rejects.toMatchObject({ code: 404 });
    expect(await wholeDatabase()).not.toContain("tok_visa");
    expect(command.id).toBeTruthy();
  });

  it("charges once when ProcessPayment arrives again, even while the first charge is still out", async () => {
    const orderId = newOrder();
    // The same command twice more, and a new one for the order, all at once: with
    // tok_slow they all find the charge unsettled and ask the provider again.
    const first = createEnvelope({
      type: PaymentCommandTypes.ProcessPayment,
      aggregateId: orderId,
      payload: processPaymentCommand(orderId, { type: "card", token: "tok_slow" }),
    });
    await Promise.all([
      deliver(first),
      deliver(first),
      deliver(first),
      processPayment(orderId, { type: "card", token: "tok_slow" }),
    ]);
    await event(orderId);
    // Every delivery has been handled once the provider calls stop changing (each
    // one that found the charge unsettled asked again, with the same key).
    let previous = "";
    await waitFor(
      async () => {
        const now = JSON.stringify(await attempts(orderId));
        const settled = now === previous && now.includes('"ok"');
        previous = now;
        return settled;
      },
      { intervalMs: SLOW_MS + 100, timeoutMs: 10_000 },
    );
    expect(await chargesOf(orderId)).toHaveLength(1);
    expect(await outboxTypes(orderId)).toEqual([EventTypes.PaymentSucceeded]);
    expect(typesOf(orderId)).toEqual([EventTypes.PaymentSucceeded]);
  });

  it("answers a decline with PaymentFailed DECLINED, and asks the provider once", async () => {
    const orderId = newOrder();
    await processPayment(orderId, { type: "card", token: "tok_chargeDeclined" });
    expect(await event(orderId)).toMatchObject({
      type: EventTypes.PaymentFailed,
      payload: { status: "FAILED", failureCode: "DECLINED" },
    });
    expect((await chargeAttempts(orderId)).map((a) => [a.outcome, a.http_status])).toEqual([
      ["declined", 402],
    ]);
    expect((await getPayment(orderId)).body).toMatchObject({
      status: "FAILED",
      failureCode: "DECLINED",
      receiptNumber: null,
    });
    await expect(
      platform.broker.call("payments.receipt", { orderId, userId }),
    ).rejects.toMatchObject({
      code: 404,
    });
  });

  it("waits out a slow provider: the timed-out request is asked again with the same key and charged once", async () => {
    const orderId = newOrder();
    await processPayment(orderId, { type: "card", token: "tok_slow" });
    expect((await event(orderId)).type).toBe(EventTypes.PaymentSucceeded);
    const outcomes = (await chargeAttempts(orderId)).map((a) => a.outcome);
    expect(outcomes[0]).toBe("timeout");
    expect(outcomes[outcomes.length - 1]).toBe("ok");
    expect(await chargesOf(orderId)).toHaveLength(1);
    expect(await outboxTypes(orderId)).toEqual([EventTypes.PaymentSucceeded]);
  });

  it("retries a provider 5xx with the same key and charges once", async () => {
    const orderId = newOrder();
    await processPayment(orderId, { type: "card", token: "tok_flaky" });
    expect((await event(orderId)).type).toBe(EventTypes.PaymentSucceeded);
    expect((await chargeAttempts(orderId)).map((a) => [a.outcome, a.http_status])).toEqual([
      ["server_error", 500],
      ["ok", 200],
    ]);
    expect(await chargesOf(orderId)).toHaveLength(1);
    // The attempts record what failed, not the request (nor the token).
    expect(await wholeDatabase()).not.toContain("tok_flaky");
  });

  it("settles a bank transfer only when the provider's webhook arrives", async () => {
    const orderId = newOrder();
    await processPayment(orderId, { type: "bank_transfer" });
    const pending = await event(orderId);
    expect(pending).toMatchObject({
      type: EventTypes.PaymentPending,
      payload: { status: "PENDING" },
    });
    expect((await getPayment(orderId)).body.status).toBe("PENDING");
    const [charge] = await chargesOf(orderId);
    expect(charge.status).toBe("pending");

    await settle(charge.id);
    expect(await event(orderId, 2)).toMatchObject({
      type: EventTypes.PaymentSucceeded,
      payload: { status: "SUCCEEDED", method: "bank_transfer", providerReference: charge.id },
    });
    expect((await getPayment(orderId)).body).toMatchObject({ status: "SUCCEEDED" });
    expect((await getPayment(orderId)).body.receiptNumber).toEqual(expect.any(String));
  });

  it("applies each webhook once and ignores duplicates and stale or out-of-order ones", async () => {
    const orderId = newOrder();
    await processPayment(orderId, { type: "card", token: "tok_async" });
    await event(orderId);
    const [charge] = await chargesOf(orderId);
    const { event: succeeded } = await settle(charge.id);
    await event(orderId, 2);

    // The provider delivers the same event again, twice.
    await sandboxApi("POST", `/v1/test_helpers/events/${succeeded.id}/resend`);
    await sandboxApi("POST", `/v1/test_helpers/events/${succeeded.id}/resend`);
    // A failure report for the charge that succeeded (out of order), under a new event id.
    const late = await postWebhook({
      id: `evt_${uniqueName("late")}`,
      object: "event",
      type: "charge.failed",
      created: Math.floor(Date.now() / 1000),
      data: { object: { ...charge, status: "failed", failure_code: "card_declined" } },
    });
    expect(late.status).toBe(200);
    await waitFor(async () => {
      const events = await sandboxApi<{
        data: { id: string; deliveries: { delivered: boolean }[] }[];
      }>("GET", `/v1/test_helpers/events?charge=${charge.id}`);
      const resent = events.data.find((e) => e.id === succeeded.id)!;
      return resent.deliveries.length === 3 && resent.deliveries.every((d) => d.delivered);
    });
    await callbacksIdle();
    expect((await getPayment(orderId)).body.status).toBe("SUCCEEDED");

    // The saga refunds; then the old success is delivered once more.
    await refundPayment(orderId, "CUSTOMER_REQUEST");
    expect((await event(orderId, 3)).type).toBe(EventTypes.PaymentRefunded);
    await sandboxApi("POST", `/v1/test_helpers/events/${succeeded.id}/resend`);
    await callbacksIdle();
    expect((await getPayment(orderId)).body.status).toBe("REFUNDED");

    expect(await outboxTypes(orderId)).toEqual([
      EventTypes.PaymentPending,
      EventTypes.PaymentSucceeded,
      EventTypes.PaymentRefunded,
    ]);
    const [after] = await chargesOf(orderId);
    expect(after).toMatchObject({ refunded: true });
    expect(after.refunds).toHaveLength(1);
  });

  it("applies a refund reported before the success in order: succeeded, then refunded", async () => {
    const orderId = newOrder();
    await processPayment(orderId, { type: "card", token: "tok_async" });
    await event(orderId);
    const [charge] = await chargesOf(orderId);
    await postWebhook({
      id: `evt_${uniqueName("early")}`,
      object: "event",
      type: "charge.refunded",
      created: Math.floor(Date.now() / 1000),
      data: {
        object: { ...charge, status: "succeeded", refunded: true, amount_refunded: charge.amount },
      },
    });
    await event(orderId, 3);
    expect(typesOf(orderId)).toEqual([
      EventTypes.PaymentPending,
      EventTypes.PaymentSucceeded,
      EventTypes.PaymentRefunded,
    ]);
    expect((await getPayment(orderId)).body.status).toBe("REFUNDED");
  });

  it("refunds at once a late success for an order the saga already cancelled", async () => {
    const orderId = newOrder();
    await processPayment(orderId, { type: "card", token: "tok_async" });
    await event(orderId);
    // The saga timed out and cancelled while the charge was pending.
    await refundPayment(orderId, "PAYMENT_TIMEOUT");
    await waitFor(async () => (await getPayment(orderId)).body.refundRequested === true);
    expect(typesOf(orderId)).toEqual([EventTypes.PaymentPending]);

    const [charge] = await chargesOf(orderId);
    await settle(charge.id);
    expect((await event(orderId, 3)).type).toBe(EventTypes.PaymentRefunded);
    expect(typesOf(orderId)).toEqual([
      EventTypes.PaymentPending,
      EventTypes.PaymentSucceeded,
      EventTypes.PaymentRefunded,
    ]);
    const [after] = await chargesOf(orderId);
    expect(after).toMatchObject({ refunded: true });
    expect(after.refunds).toHaveLength(1);
  });

  it("refunds once, and treats a refund with nothing captured as nothing to do", async () => {
    const paid = newOrder();
    await processPayment(paid, { type: "card", token: "tok_visa" });
    await event(paid);
    const refund = await refundPayment(paid);
    await deliver(refund);
    await refundPayment(paid);
    expect(await event(paid, 2)).toMatchObject({
      type: EventTypes.PaymentRefunded,
      payload: { status: "REFUNDED", refundId: expect.any(String) },
    });

    const declined = newOrder();
    await processPayment(declined, { type: "card", token: "tok_chargeDeclined" });
    await event(declined);
    await refundPayment(declined);
    const unknown = newOrder();
    await refundPayment(unknown);
    const cash = newOrder();
    await processPayment(cash, { type: "cash_on_delivery" });
    await event(cash);
    await refundPayment(cash);

    // Everything above has been handled once the refund of the paid order is: wait for its commands.
    await waitFor(
      async () =>
        (
          await rows(
            "SELECT message_id FROM processed_messages WHERE consumer = 'payments.commands'",
          )
        ).length >= 6,
    );
    expect(await outboxTypes(paid)).toEqual([
      EventTypes.PaymentSucceeded,
      EventTypes.PaymentRefunded,
    ]);
    expect((await chargesOf(paid))[0].refunds).toHaveLength(1);
    expect(await outboxTypes(declined)).toEqual([EventTypes.PaymentFailed]);
    expect(await outboxTypes(unknown)).toEqual([]);
    expect(await outboxTypes(cash)).toEqual([EventTypes.PaymentSucceeded]);
    expect(saga.deadLetters).toEqual([]);
  });

  it("confirms cash on delivery without charging anything", async () => {
    const orderId = newOrder();
    await processPayment(orderId, { type: "cash_on_delivery" });
    expect(await event(orderId)).toMatchObject({
      type: EventTypes.PaymentSucceeded,
      payload: { status: "AWAITING_COLLECTION", method: "cash_on_delivery" },
    });
    expect(await chargesOf(orderId)).toEqual([]);
    expect((await getPayment(orderId)).body).toMatchObject({
      status: "AWAITING_COLLECTION",
      receiptNumber: null,
    });
  });

  it("refuses a card number sent as the token: PaymentFailed, and the number is in no table and no log", async () => {
    const orderId = newOrder();
    const pan = "4111 1111 1111 1111";
    await processPayment(orderId, { type: "card", token: pan });
    expect(await event(orderId)).toMatchObject({
      type: EventTypes.PaymentFailed,
      payload: { status: "FAILED", failureCode: "DECLINED" },
    });
    expect(await chargesOf(orderId)).toEqual([]);
    const stored = await wholeDatabase();
    const logs = logLines.join("\n");
    for (const form of [pan, pan.replace(/ /g, "")]) {
      expect(stored).not.toContain(form);
      expect(logs).not.toContain(form);
    }
    // The logs are there to search: this very payment was logged (without the number).
    expect(logs).toContain(orderId);
  });

  it("dead-letters a command it cannot understand", async () => {
    const bogus = createEnvelope({ type: "ChargeTwice", aggregateId: newOrder(), payload: {} });
    await deliver(bogus);
    const noAmount = createEnvelope({
      type: PaymentCommandTypes.ProcessPayment,
      aggregateId: "x",
      payload: {
        orderId: newOrder(),
        userId,
        method: { type: "card", token: "tok_visa" },
        lines: [],
      },
    });
    await deliver(noAmount);
    await waitFor(() => saga.deadLetters.length >= 2, { timeoutMs: 15_000 });
    expect(saga.deadLetters).toEqual(expect.arrayContaining([bogus, noAmount]));
  });

  it("retries a webhook job that keeps failing with backoff, keeps it as failed, and goes on with the others", async () => {
    const stranger = newOrder();
    const started = Date.now();
    const unknownEvent = `evt_${uniqueName("unknown")}`;
    const res = await postWebhook({
      id: unknownEvent,
      object: "event",
      type: "charge.succeeded",
      created: Math.floor(started / 1000),
      data: {
        object: {
          id: `ch_${uniqueName("x").replace(/_/g, "")}`,
          object: "charge",
          status: "succeeded",
          amount: 100,
          currency: "eur",
          refunded: false,
          metadata: { order_id: stranger },
        },
      },
    });
    expect(res.status).toBe(200);

    // Meanwhile another payment's webhook goes through.
    const orderId = newOrder();
    await processPayment(orderId, { type: "bank_transfer" });
    await event(orderId);
    await settle((await chargesOf(orderId))[0].id);
    expect((await event(orderId, 2)).type).toBe(EventTypes.PaymentSucceeded);

    const failed = await waitFor(
      async () =>
        (await status()).queues["payment-callbacks"].failedJobs.find(
          (j) => j.id === `sandbox-${unknownEvent}`,
        ),
      { timeoutMs: 15_000 },
    );
    // Three attempts, 150 ms then 300 ms apart.
    expect(failed.attemptsMade).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(failed.failedReason).toMatch(/no payment for charge/);
    expect(await outboxTypes(stranger)).toEqual([]);
  });
});

/** Circuit breaker and unknown outcomes, on a node of its own (the breaker is per node). */
describe.each(modes)("payments with a failing provider (%s)", (mode) => {
  const channelsPrefix = uniqueName("paybreaker");
  const real = mode === "embedded" ? undefined : withRealServers("mysql", "redis");
  const saga = ordersSagaStandIn();
  let sandbox: SandboxProvider;
  let platform: Platform;

  beforeAll(async () => {
    jest.spyOn(console, "warn").mockImplementation(() => undefined);
    sandbox = createSandboxProvider({
      apiKey: API_KEY,
      webhookSecret: WEBHOOK_SECRET,
      asyncDelayMs: 0,
    });
    platform = await startPlatform({
      services: [PaymentsService, saga.schema],
      env: {
        CHANNELS_PREFIX: channelsPrefix,
        PAYMENT_GATEWAY_URL: await sandbox.listen(0),
        PAYMENT_GATEWAY_API_KEY: API_KEY,
        PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
        PAYMENT_GATEWAY_RETRIES: "1",
        PAYMENT_GATEWAY_BREAKER_THRESHOLD: "2",
        PAYMENT_GATEWAY_BREAKER_COOLDOWN_MS: "1500",
        PAYMENT_CHARGE_RETRY_DELAY_MS: "300",
        ...(real ? { ...real.env, CHANNELS_URL: servers.redis! } : {}),
      },
    });
  });

  afterAll(async () => {
    await platform?.stop();
    await sandbox?.close();
    await real?.cleanup();
    if (real) await cleanUpChannels("redis", channelsPrefix);
    jest.restoreAllMocks();
  });

  const outage = (method: "POST" | "DELETE" | "GET") =>
    fetch(`${sandbox.url}/v1/test_helpers/outage`, {
      method,
      headers: { authorization: `Bearer ${API_KEY}` },
    }).then((r) => r.json() as Promise<{ active: boolean; refused: number }>);
  const circuit = async () =>
    (await platform.broker.call<StatusReport>("payments.status")).provider.circuit;
  const attempts = async (orderId: string) => {
    const { db } = platform.broker.getLocalService("payments") as unknown as {
      db: RelationalDatabase;
    };
    const found = await db.sequelize.query<{ outcome: string }>(
      `SELECT a.outcome FROM payment_attempts a JOIN payments p ON p.id = a.payment_id
       WHERE p.order_id = ? ORDER BY a.attempt_no`,
      { replacements: [orderId], type: QueryTypes.SELECT },
    );
    return found.map((a) => a.outcome);
  };

  it("keeps the payment pending while the provider is down, stops calling it while the circuit is open, and charges once after the cool-down", async () => {
    const orderId = randomUUID();
    await outage("POST");
    const envelope = createEnvelope({
      type: PaymentCommandTypes.ProcessPayment,
      aggregateId: orderId,
      payload: {
        orderId,
        userId: randomUUID(),
        amount: { amount: 4200, currency: "EUR" },
        method: { type: "card", token: "tok_visa" },
        lines: [],
      } satisfies ProcessPaymentCommand,
    });
    await platform.broker.sendToChannel(Topics.PaymentsCommands, envelope, {
      key: orderId,
      headers: { ...headersFor(envelope, { source: "orders" }) },
    });

    // Two 503s open the circuit; the payment stays PENDING (never reported as failed).
    await waitFor(async () => (await circuit()) === "open", { timeoutMs: 10_000 });
    // The retry job finds the circuit open and does not call the provider.
    await waitFor(async () => (await attempts(orderId)).includes("circuit_open"), {
      timeoutMs: 10_000,
    });
    expect(await outage("GET")).toEqual({ active: true, refused: 2 });
    expect(saga.events.filter((e) => e.aggregateId === orderId)).toEqual([]);

    await outage("DELETE");
    const succeeded = await waitFor(() => saga.events.find((e) => e.aggregateId === orderId), {
      timeoutMs: 15_000,
    });
    expect(succeeded.type).toBe(EventTypes.PaymentSucceeded);
    expect(await circuit()).toBe("closed");
    const outcomes = await attempts(orderId);
    expect(outcomes.slice(0, 2)).toEqual(["server_error", "server_error"]);
    expect(outcomes[outcomes.length - 1]).toBe("ok");
    expect(outcomes).not.toContain("declined");
    const charges = await fetch(`${sandbox.url}/v1/test_helpers/charges?order_id=${orderId}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    }).then((r) => r.json() as Promise<{ data: unknown[] }>);
    expect(charges.data).toHaveLength(1);
    expect(saga.events.filter((e) => e.aggregateId === orderId)).toHaveLength(1);
  });
});

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
