import { createServer, IncomingMessage, Server } from "node:http";
import type { AddressInfo } from "node:net";
import { verifySignature } from "../../../lib/security/webhook-signature";
import { createSandboxProvider, SandboxProvider } from "../../../services/payments/sandbox/server";
import { waitFor } from "../../helpers/wait";

/**
 * The sandbox payment provider over real HTTP, as any client sees it: a
 * Stripe-like API with idempotency keys, test tokens, refunds and signed
 * webhooks that are retried until the receiver accepts them.
 */
const API_KEY = "sk_test_sandbox_suite";
const SECRET = "whsec_sandbox_suite";

/** A JSON answer of the sandbox; each test reads the fields it checks. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- arbitrary JSON read by field
type Json = Record<string, any>;

interface Received {
  body: string;
  signature: string | undefined;
}

describe("sandbox payment provider", () => {
  let sandbox: SandboxProvider;
  let url: string;
  let receiver: Server;
  const received: Received[] = [];
  /** Webhook deliveries the receiver answers 500 to before accepting. */
  let refuseNext = 0;

  beforeAll(async () => {
    receiver = createServer(async (req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks).toString("utf8");
      if (refuseNext > 0) {
        refuseNext--;
        res.writeHead(500).end();
        return;
      }
      received.push({ body, signature: req.headers["sandbox-signature"] as string | undefined });
      res.writeHead(200).end("{}");
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const port = (receiver.address() as AddressInfo).port;
    sandbox = createSandboxProvider({
      apiKey: API_KEY,
      webhookSecret: SECRET,
      slowMs: 300,
      asyncDelayMs: 0,
      webhookRetryDelayMs: 20,
    });
    url = await sandbox.listen(0);
    await api("POST", "/v1/webhook_endpoints", { url: `http://127.0.0.1:${port}/hooks` });
  });

  afterAll(async () => {
    await sandbox?.close();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  async function api(
    method: string,
    path: string,
    body?: Record<string, unknown>,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Json; headers: Headers }> {
    const res = await fetch(url + path, {
      method,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        "content-type": "application/json",
        ...headers,
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return {
      status: res.status,
      body: (await res.json()) as Json,
      headers: res.headers,
    };
  }

  const charge = (source: string, orderId: string, key?: string, amount = 1500) =>
    api(
      "POST",
      "/v1/charges",
      { amount, currency: "eur", source, metadata: { order_id: orderId } },
      key ? { "idempotency-key": key } : {},
    );
  const chargesOf = async (orderId: string) =>
    (await api("GET", `/v1/test_helpers/charges?order_id=${orderId}`)).body.data as Json[];
  const eventsReceived = (chargeId: string) =>
    received.map((r) => JSON.parse(r.body)).filter((e) => e.data.object.id === chargeId);

  it("refuses requests without the API key", async () => {
    const res = await fetch(`${url}/v1/charges/ch_1`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { type: "invalid_request_error" } });
  });

  it("charges tok_visa, and answers a repeat of the same key with the stored charge", async () => {
    const first = await charge("tok_visa", "o-visa", "key-visa");
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      object: "charge",
      status: "succeeded",
      amount: 1500,
      currency: "eur",
      metadata: { order_id: "o-visa" },
      payment_method_details: { type: "card", card: { brand: "visa", last4: "4242" } },
    });
    expect(JSON.stringify(first.body)).not.toContain("tok_visa");
    const again = await charge("tok_visa", "o-visa", "key-visa");
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await chargesOf("o-visa")).toHaveLength(1);
    expect((await api("GET", `/v1/charges/${first.body.id}`)).body).toEqual(first.body);
  });

  it("refuses the same key with other parameters, like Stripe", async () => {
    await charge("tok_visa", "o-idem", "key-idem", 1500);
    const other = await charge("tok_visa", "o-idem", "key-idem", 9900);
    expect(other.status).toBe(400);
    expect(other.body.error.type).toBe("idempotency_error");
    expect(await chargesOf("o-idem")).toHaveLength(1);
  });

  it("declines tok_chargeDeclined with 402 card_declined", async () => {
    const res = await charge("tok_chargeDeclined", "o-declined", "key-declined");
    expect(res.status).toBe(402);
    expect(res.body.error).toMatchObject({ type: "card_error", code: "card_declined" });
    expect((await chargesOf("o-declined"))[0]).toMatchObject({
      id: res.body.error.charge,
      status: "failed",
    });
  });

  it("answers tok_slow late, and a concurrent repeat waits for the same charge", async () => {
    const started = Date.now();
    const [a, b] = await Promise.all([
      charge("tok_slow", "o-slow", "key-slow"),
      charge("tok_slow", "o-slow", "key-slow"),
    ]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(a.body.id).toBe(b.body.id);
    expect(await chargesOf("o-slow")).toHaveLength(1);
  });

  it("fails tok_flaky once with a 500 and charges once when retried with the same key", async () => {
    expect((await charge("tok_flaky", "o-flaky", "key-flaky")).status).toBe(500);
    expect(await chargesOf("o-flaky")).toHaveLength(0);
    const retried = await charge("tok_flaky", "o-flaky", "key-flaky");
    expect(retried.status).toBe(200);
    expect((await charge("tok_flaky", "o-flaky", "key-flaky")).body.id).toBe(retried.body.id);
    expect(await chargesOf("o-flaky")).toHaveLength(1);
  });

  it("leaves tok_async and bank transfers pending until settled, then sends a signed webhook", async () => {
    const res = await charge("bank_transfer", "o-bank", "key-bank");
    expect(res.body).toMatchObject({
      status: "pending",
      payment_method_details: { type: "bank_transfer" },
    });
    const settled = await api("POST", `/v1/test_helpers/charges/${res.body.id}/settle`, {
      outcome: "succeeded",
    });
    expect(settled.body.charge.status).toBe("succeeded");
    const event = settled.body.event;
    await waitFor(() => eventsReceived(res.body.id).some((e) => e.id === event.id));
    const delivery = received.find((r) => JSON.parse(r.body).id === event.id)!;
    expect(JSON.parse(delivery.body)).toMatchObject({
      type: "charge.succeeded",
      data: { object: { id: res.body.id, status: "succeeded", metadata: { order_id: "o-bank" } } },
    });
    expect(verifySignature(delivery.body, delivery.signature, SECRET).valid).toBe(true);
    expect(verifySignature(delivery.body, delivery.signature, "whsec_other").valid).toBe(false);
  });

  it("retries a webhook the receiver refused, and resends an event on request", async () => {
    const res = await charge("tok_async", "o-async", "key-async");
    await waitFor(() => eventsReceived(res.body.id).some((e) => e.type === "charge.pending"));
    refuseNext = 2;
    const { event } = (await api("POST", `/v1/test_helpers/charges/${res.body.id}/settle`, {}))
      .body;
    await waitFor(() => eventsReceived(res.body.id).filter((e) => e.id === event.id).length === 1);
    const events = (await api("GET", `/v1/test_helpers/events?charge=${res.body.id}`)).body.data;
    const settledEvent = events.find((e: { id: string }) => e.id === event.id);
    expect(settledEvent.deliveries[0]).toMatchObject({
      attempts: 3,
      lastStatus: 200,
      delivered: true,
    });

    await api("POST", `/v1/test_helpers/events/${event.id}/resend`);
    await waitFor(() => eventsReceived(res.body.id).filter((e) => e.id === event.id).length === 2);
  });

  it("refunds a succeeded charge once per key, and refuses a second refund", async () => {
    const paid = await charge("tok_visa", "o-refund", "key-refund");
    const refund = await api(
      "POST",
      "/v1/refunds",
      { charge: paid.body.id },
      { "idempotency-key": "r-1" },
    );
    expect(refund.body).toMatchObject({ object: "refund", charge: paid.body.id, amount: 1500 });
    const repeat = await api(
      "POST",
      "/v1/refunds",
      { charge: paid.body.id },
      { "idempotency-key": "r-1" },
    );
    expect(repeat.body.id).toBe(refund.body.id);
    const second = await api(
      "POST",
      "/v1/refunds",
      { charge: paid.body.id },
      { "idempotency-key": "r-2" },
    );
    expect(second.status).toBe(400);
    expect(second.body.error.code).toBe("charge_already_refunded");
    const [recorded] = await chargesOf("o-refund");
    expect(recorded).toMatchObject({ refunded: true, amount_refunded: 1500 });
    expect(recorded.refunds).toHaveLength(1);
  });

  it("answers form-encoded requests like JSON ones, and refuses unknown tokens", async () => {
    const res = await fetch(`${url}/v1/charges`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${API_KEY}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "amount=700&currency=usd&source=tok_mastercard&metadata[order_id]=o-form",
    });
    expect(await res.json()).toMatchObject({
      amount: 700,
      metadata: { order_id: "o-form" },
      payment_method_details: { card: { brand: "mastercard" } },
    });
    const unknown = await charge("tok_nonsense", "o-unknown");
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: "resource_missing", param: "source" });
  });

  it("answers 503 to the API during a simulated outage, and counts what it refused", async () => {
    await api("POST", "/v1/test_helpers/outage");
    expect((await charge("tok_visa", "o-outage", "key-outage")).status).toBe(503);
    expect((await api("GET", "/v1/test_helpers/outage")).body).toEqual({
      active: true,
      refused: 1,
    });
    await api("DELETE", "/v1/test_helpers/outage");
    expect((await charge("tok_visa", "o-outage", "key-outage")).status).toBe(200);
  });
});
