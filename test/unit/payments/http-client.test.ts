import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { CircuitBreaker } from "../../../lib/resilience/circuit-breaker";
import { HttpPaymentProvider } from "../../../services/payments/provider/http-client";
import { createSandboxProvider, SandboxProvider } from "../../../services/payments/sandbox/server";

/**
 * The provider client against the sandbox over real HTTP: retries (same
 * idempotency key) after 5xx and timeouts only, never after a 4xx; an
 * unknown outcome is reported as unknown, never as a failure; the circuit
 * breaker stops calling a provider that keeps failing.
 */
const API_KEY = "sk_test_client_suite";

describe("payment provider HTTP client", () => {
  let sandbox: SandboxProvider;
  let url: string;

  beforeAll(async () => {
    sandbox = createSandboxProvider({
      apiKey: API_KEY,
      webhookSecret: "whsec_client_suite",
      slowMs: 400,
      asyncDelayMs: 0,
    });
    url = await sandbox.listen(0);
  });
  afterAll(() => sandbox?.close());

  function client(over: Partial<ConstructorParameters<typeof HttpPaymentProvider>[0]> = {}) {
    return new HttpPaymentProvider({
      name: "sandbox",
      baseUrl: url,
      apiKey: API_KEY,
      timeoutMs: 2000,
      retries: 2,
      retryBaseMs: 10,
      retryMaxMs: 50,
      breaker: new CircuitBreaker({ failureThreshold: 5, windowMs: 60_000, coolDownMs: 60_000 }),
      ...over,
    });
  }
  const request = (orderId: string, source = "tok_visa") => ({
    idempotencyKey: `pay-${orderId}`,
    amount: 2599,
    currency: "EUR",
    source,
    orderId,
  });
  async function chargesOf(orderId: string): Promise<{ status: string }[]> {
    const res = await fetch(`${url}/v1/test_helpers/charges?order_id=${orderId}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    return ((await res.json()) as { data: { status: string }[] }).data;
  }

  it("charges and reads the charge back", async () => {
    const result = await client().charge(request("o-ok"));
    expect(result).toMatchObject({
      kind: "ok",
      value: {
        status: "succeeded",
        amount: 2599,
        currency: "EUR",
        orderId: "o-ok",
        card: { brand: "visa", last4: "4242" },
      },
      attempts: [{ outcome: "ok", httpStatus: 200 }],
    });
    const id = result.kind === "ok" ? result.value.id : "";
    expect(await client().retrieveCharge(id)).toMatchObject({ kind: "ok", value: { id } });
  });

  it("retries a 5xx with the same key and charges once", async () => {
    const result = await client().charge(request("o-flaky", "tok_flaky"));
    expect(result.kind).toBe("ok");
    expect(result.attempts.map((a) => [a.outcome, a.httpStatus])).toEqual([
      ["server_error", 500],
      ["ok", 200],
    ]);
    expect(await chargesOf("o-flaky")).toHaveLength(1);
  });

  it("does not retry a decline or another refusal", async () => {
    const declined = await client().charge(request("o-declined", "tok_chargeDeclined"));
    expect(declined).toMatchObject({ kind: "declined", code: "card_declined" });
    expect(declined.attempts).toHaveLength(1);
    const refused = await client().charge(request("o-unknown-token", "tok_nope"));
    expect(refused).toMatchObject({ kind: "rejected", status: 400, code: "resource_missing" });
    expect(refused.attempts).toHaveLength(1);
    const badKey = await client({ apiKey: "sk_wrong" }).charge(request("o-bad-key"));
    expect(badKey).toMatchObject({ kind: "rejected", status: 401 });
  });

  it("retries a timeout with the same key; the provider charges once", async () => {
    const result = await client({ timeoutMs: 150, retries: 4, retryBaseMs: 50 }).charge(
      request("o-slow", "tok_slow"),
    );
    expect(result.kind).toBe("ok");
    expect(result.attempts[0]).toMatchObject({ outcome: "timeout" });
    expect(await chargesOf("o-slow")).toHaveLength(1);
  });

  it("reports an unreachable provider as an unknown outcome, not a failure", async () => {
    const port = await closedPort();
    const result = await client({ baseUrl: `http://127.0.0.1:${port}`, retries: 1 }).charge(
      request("o-down"),
    );
    expect(result).toMatchObject({
      kind: "unknown",
      reason: "network_error",
      attempts: [{ outcome: "network_error" }, { outcome: "network_error" }],
    });
  });

  it("opens the circuit after repeated failures and stops calling until the cool-down is over", async () => {
    let now = 0;
    const breaker = new CircuitBreaker({
      failureThreshold: 3,
      windowMs: 60_000,
      coolDownMs: 1000,
      now: () => now,
    });
    const c = client({ breaker, retries: 1 });
    const outage = (method: string) =>
      fetch(`${url}/v1/test_helpers/outage`, {
        method,
        headers: { authorization: `Bearer ${API_KEY}` },
      });
    await outage("POST");
    try {
      expect((await c.charge(request("o-outage-1"))).kind).toBe("unknown");
      const second = await c.charge(request("o-outage-2"));
      // The third failure opened the circuit: the retry after it was refused without a request.
      expect(second.attempts.map((a) => a.outcome)).toEqual(["server_error", "circuit_open"]);
      expect(c.circuit).toBe("open");
      const refused = await c.charge(request("o-outage-3"));
      expect(refused).toMatchObject({ kind: "unknown", reason: "circuit_open" });
      expect(refused.attempts).toEqual([{ outcome: "circuit_open", durationMs: 0 }]);
      const status = await (await outage("GET")).json();
      expect(status).toEqual({ active: true, refused: 3 });
    } finally {
      await outage("DELETE");
    }
    now += 1000;
    expect(c.circuit).toBe("half-open");
    expect((await c.charge(request("o-outage-3"))).kind).toBe("ok");
    expect(c.circuit).toBe("closed");
  });
});

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
