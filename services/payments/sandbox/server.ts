import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { BodyError, parseParams, readBody, send } from "./http";
import { fingerprintOf, IdempotencyStore } from "./idempotency";
import { ChargeParams, newId, SandboxLedger, SOURCES } from "./ledger";
import { apiError, ApiResponse, ProviderEvent } from "./types";
import { WebhookSender } from "./webhook-sender";

/**
 * The sandbox payment provider: a small Stripe-like HTTP service with no
 * dependency on the rest of the system, run in-process by the all-in-one
 * node or on its own (`npm run sandbox`).
 *
 *   POST /v1/charges                       amount, currency, source, metadata[order_id]
 *   GET  /v1/charges/:id
 *   POST /v1/refunds                       charge, amount?
 *   POST /v1/webhook_endpoints             url: where events are sent
 *   POST /v1/test_helpers/charges/:id/settle      outcome: succeeded | failed
 *   POST /v1/test_helpers/events/:id/resend       delivers an event again
 *   GET  /v1/test_helpers/charges?order_id=       every charge of an order
 *   GET  /v1/test_helpers/events?charge=          every event of a charge
 *   POST /v1/test_helpers/outage, DELETE …        answer 503 to the API until ended
 *
 * Every route needs `Authorization: Bearer <apiKey>`. POSTs honour
 * `Idempotency-Key` (idempotency.ts). Errors have Stripe's shape.
 */
export interface SandboxOptions {
  apiKey: string;
  webhookSecret: string;
  /** Registered as a webhook endpoint from the start. */
  webhookUrl?: string;
  /** How long tok_slow takes to answer (default 2000). */
  slowMs?: number;
  /** When pending charges settle by themselves (default 3000); 0: only through the settle helper. */
  asyncDelayMs?: number;
  /** First retry delay of a webhook delivery that failed (default 500). */
  webhookRetryDelayMs?: number;
  /** Delivery attempts per event and endpoint (default 8). */
  webhookAttempts?: number;
  log?: (message: string) => void;
}

export interface SandboxProvider {
  /** Starts listening (port 0: any free port); resolves with the base URL. */
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
  /** The base URL once listening. */
  readonly url: string | undefined;
}

const DEFAULT_SLOW_MS = 2000;
const DEFAULT_ASYNC_DELAY_MS = 3000;

export function createSandboxProvider(options: SandboxOptions): SandboxProvider {
  return new Sandbox(options);
}

class Sandbox implements SandboxProvider {
  url: string | undefined;
  private readonly server: Server;
  private readonly ledger: SandboxLedger;
  private readonly webhooks: WebhookSender;
  private readonly idempotency = new IdempotencyStore();
  /** Idempotency keys (or request fingerprints) tok_flaky has already failed once. */
  private readonly flakyFailed = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private outage: { active: boolean; refused: number } = { active: false, refused: 0 };

  constructor(private readonly opts: SandboxOptions) {
    if (!opts.apiKey || !opts.webhookSecret)
      throw new Error("The sandbox provider needs an API key and a webhook secret");
    const log = opts.log ?? (() => undefined);
    this.webhooks = new WebhookSender({
      secret: opts.webhookSecret,
      retryDelayMs: opts.webhookRetryDelayMs ?? 500,
      attempts: opts.webhookAttempts ?? 8,
      log,
    });
    if (opts.webhookUrl) this.webhooks.endpoints.add(opts.webhookUrl);
    this.ledger = new SandboxLedger((event) => this.webhooks.send(event));
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        log(`sandbox: ${req.method} ${req.url} failed: ${(err as Error).message}`);
        if (!res.headersSent) send(res, apiError(500, "api_error", "Internal sandbox error"));
      });
    });
  }

  listen(port = 0, host = "127.0.0.1"): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        const address = this.server.address() as AddressInfo;
        this.url = `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`;
        resolve(this.url);
      });
    });
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.webhooks.close();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sandbox");
    const method = req.method ?? "GET";
    if (req.headers.authorization !== `Bearer ${this.opts.apiKey}`) {
      send(
        res,
        apiError(401, "invalid_request_error", "Invalid API Key provided", {
          code: "api_key_invalid",
        }),
      );
      return;
    }
    let params: Record<string, unknown>;
    try {
      params = parseParams(await readBody(req), req.headers["content-type"]);
    } catch (err) {
      if (!(err instanceof BodyError)) throw err;
      send(res, apiError(err.status, "invalid_request_error", err.message));
      return;
    }
    const testHelper = url.pathname.startsWith("/v1/test_helpers/");
    if (this.outage.active && !testHelper) {
      this.outage.refused++;
      send(res, apiError(503, "api_error", "The sandbox is having an outage (test helper)"));
      return;
    }
    const key = header(req, "idempotency-key");
    if (method !== "POST" || !key) {
      send(res, await this.route(method, url, params, key));
      return;
    }
    const result = await this.idempotency.run(
      key,
      fingerprintOf(method, url.pathname, params),
      () => this.route(method, url, params, key),
    );
    if (result.kind === "mismatch") {
      send(
        res,
        apiError(
          400,
          "idempotency_error",
          "Keys for idempotent requests can only be used with the same parameters they were first used with.",
        ),
      );
      return;
    }
    send(res, result.response, result.replayed ? { "idempotent-replayed": "true" } : {});
  }

  private async route(
    method: string,
    url: URL,
    params: Record<string, unknown>,
    idempotencyKey: string | undefined,
  ): Promise<ApiResponse> {
    const parts = url.pathname.split("/").filter(Boolean);
    const route = `${method} /${parts.map((p, i) => (i >= 2 && isId(p) ? ":id" : p)).join("/")}`;
    const id = parts.find((p, i) => i >= 2 && isId(p)) ?? "";
    switch (route) {
      case "POST /v1/charges":
        return this.createCharge(params, idempotencyKey);
      case "GET /v1/charges/:id": {
        const charge = this.ledger.getCharge(id);
        return charge ? { status: 200, body: charge } : notFound(`No such charge: '${id}'`);
      }
      case "POST /v1/refunds":
        return this.createRefund(params);
      case "POST /v1/webhook_endpoints":
        return this.addWebhookEndpoint(params);
      case "POST /v1/test_helpers/charges/:id/settle": {
        const outcome = params.outcome ?? "succeeded";
        if (outcome !== "succeeded" && outcome !== "failed")
          return invalidParam("outcome", "outcome must be succeeded or failed");
        return this.ledger.settle(id, outcome);
      }
      case "POST /v1/test_helpers/events/:id/resend": {
        const event = this.ledger.event(id);
        if (!event) return notFound(`No such event: '${id}'`);
        this.webhooks.send(event);
        return { status: 200, body: event };
      }
      case "GET /v1/test_helpers/charges": {
        const orderId = url.searchParams.get("order_id");
        if (!orderId) return invalidParam("order_id", "order_id is required");
        const charges = this.ledger.chargesForOrder(orderId).map((charge) => ({
          ...charge,
          refunds: this.ledger.refundsForCharge(charge.id),
        }));
        return { status: 200, body: { object: "list", data: charges } };
      }
      case "GET /v1/test_helpers/events": {
        const chargeId = url.searchParams.get("charge");
        if (!chargeId) return invalidParam("charge", "charge is required");
        const events = this.ledger.eventsForCharge(chargeId).map((event) => ({
          ...event,
          deliveries: this.webhooks.deliveries.filter((d) => d.eventId === event.id),
        }));
        return { status: 200, body: { object: "list", data: events } };
      }
      case "POST /v1/test_helpers/outage":
        this.outage = { active: true, refused: 0 };
        return { status: 200, body: this.outage };
      case "DELETE /v1/test_helpers/outage":
        this.outage = { ...this.outage, active: false };
        return { status: 200, body: this.outage };
      case "GET /v1/test_helpers/outage":
        return { status: 200, body: this.outage };
      default:
        return notFound(`Unrecognized request URL (${method}: ${url.pathname})`);
    }
  }

  private async createCharge(
    params: Record<string, unknown>,
    idempotencyKey: string | undefined,
  ): Promise<ApiResponse> {
    const parsed = chargeParams(params);
    if ("status" in parsed) return parsed;
    const behaviour = SOURCES[parsed.source];
    if (behaviour?.flaky) {
      const seenAs = idempotencyKey ?? fingerprintOf("POST", "/v1/charges", parsed);
      if (!this.flakyFailed.has(seenAs)) {
        this.flakyFailed.add(seenAs);
        return apiError(
          500,
          "api_error",
          "An unexpected error occurred (the flaky test token fails once)",
        );
      }
    }
    const answer = this.ledger.createCharge(parsed);
    const charge = answer.body as { id?: string; status?: string };
    if (answer.status === 200 && charge.status === "pending") this.settleLater(charge.id!);
    // The charge is made; only the answer is late.
    if (behaviour?.slow) await this.sleep(this.opts.slowMs ?? DEFAULT_SLOW_MS);
    return answer;
  }

  private createRefund(params: Record<string, unknown>): ApiResponse {
    if (typeof params.charge !== "string" || !params.charge)
      return invalidParam("charge", "Missing required param: charge.");
    const amount = params.amount === undefined ? undefined : integer(params.amount);
    if (amount === null) return invalidParam("amount", "amount must be a positive integer");
    return this.ledger.createRefund({ charge: params.charge, amount });
  }

  private addWebhookEndpoint(params: Record<string, unknown>): ApiResponse {
    const url = typeof params.url === "string" ? params.url : "";
    if (!/^https?:\/\/\S+$/.test(url)) return invalidParam("url", "url must be an http(s) URL");
    this.webhooks.endpoints.add(url);
    return { status: 200, body: { id: newId("we"), object: "webhook_endpoint", url } };
  }

  private settleLater(chargeId: string): void {
    const delay = this.opts.asyncDelayMs ?? DEFAULT_ASYNC_DELAY_MS;
    if (delay <= 0) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.ledger.settle(chargeId, "succeeded");
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}

function chargeParams(params: Record<string, unknown>): ChargeParams | ApiResponse {
  const amount = integer(params.amount);
  if (amount === null) return invalidParam("amount", "amount must be a positive integer");
  if (typeof params.currency !== "string" || !/^[a-zA-Z]{3}$/.test(params.currency))
    return invalidParam("currency", "currency must be a three-letter ISO code");
  if (typeof params.source !== "string" || !params.source)
    return invalidParam("source", "Missing required param: source.");
  const metadata: Record<string, string> = {};
  if (params.metadata !== undefined) {
    if (typeof params.metadata !== "object" || params.metadata === null)
      return invalidParam("metadata", "metadata must be an object");
    for (const [k, v] of Object.entries(params.metadata)) metadata[k] = String(v);
  }
  return { amount, currency: params.currency, source: params.source, metadata };
}

/** A positive integer from a JSON number or a form string; null otherwise. */
function integer(value: unknown): number | null {
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === "number" && Number.isSafeInteger(n) && n > 0 ? n : null;
}

function isId(segment: string): boolean {
  return /^(ch|evt|re|we)_[0-9a-zA-Z]+$/.test(segment);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function notFound(message: string): ApiResponse {
  return apiError(404, "invalid_request_error", message, { code: "resource_missing" });
}

function invalidParam(param: string, message: string): ApiResponse {
  return apiError(400, "invalid_request_error", message, { param, code: "parameter_invalid" });
}

/** Types re-exported for the runner and the tests. */
export type { ProviderEvent };
