import { backoffDelay } from "../../../lib/resilience/backoff";
import { CircuitBreaker, CircuitState } from "../../../lib/resilience/circuit-breaker";
import type {
  CallAttempt,
  ChargeRequest,
  PaymentProvider,
  ProviderCharge,
  ProviderRefund,
  ProviderResult,
  RefundRequest,
} from "./port";
import { parseCharge, parseRefund } from "./wire";

/**
 * The payment provider over HTTP (a Stripe-like REST API; the repository's
 * sandbox speaks it). Each call:
 *  - carries `Authorization: Bearer <key>` and an `Idempotency-Key`;
 *  - is bounded by a timeout per request;
 *  - is retried with exponential backoff and jitter after a network error,
 *    a timeout or a 5xx only — never after a 4xx, which is an answer;
 *  - goes through a circuit breaker: once the provider keeps failing, calls
 *    are refused at once (outcome unknown) until its cool-down is over.
 * Request bodies (which hold the card token) are never logged or returned.
 */
export interface HttpProviderOptions {
  name: string;
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  /** Retries after the first request (network errors, timeouts, 5xx). */
  retries: number;
  breaker: CircuitBreaker;
  /** false: accept a certificate that does not verify (https only; never in production). */
  tlsRejectUnauthorized?: boolean;
  retryBaseMs?: number;
  retryMaxMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

interface StripeLikeError {
  error?: { type?: string; code?: string; message?: string; charge?: string };
}

type Answer = { status: number; body: unknown };

export class HttpPaymentProvider implements PaymentProvider {
  readonly name: string;
  private readonly baseUrl: string;
  private readonly dispatcher: object | undefined;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: HttpProviderOptions) {
    this.name = opts.name;
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    this.dispatcher = insecureDispatcher(this.baseUrl, opts.tlsRejectUnauthorized ?? true);
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  get circuit(): CircuitState {
    return this.opts.breaker.state;
  }

  async charge(request: ChargeRequest): Promise<ProviderResult<ProviderCharge>> {
    const form = new URLSearchParams({
      amount: String(request.amount),
      currency: request.currency.toLowerCase(),
      source: request.source,
      "metadata[order_id]": request.orderId,
    });
    return this.call("POST", "/v1/charges", form, request.idempotencyKey, parseCharge);
  }

  async refund(request: RefundRequest): Promise<ProviderResult<ProviderRefund>> {
    const form = new URLSearchParams({
      charge: request.chargeId,
      amount: String(request.amount),
    });
    return this.call("POST", "/v1/refunds", form, request.idempotencyKey, parseRefund);
  }

  async retrieveCharge(chargeId: string): Promise<ProviderResult<ProviderCharge>> {
    return this.call(
      "GET",
      `/v1/charges/${encodeURIComponent(chargeId)}`,
      undefined,
      undefined,
      parseCharge,
    );
  }

  private async call<T>(
    method: "GET" | "POST",
    path: string,
    form: URLSearchParams | undefined,
    idempotencyKey: string | undefined,
    parse: (body: unknown) => T,
  ): Promise<ProviderResult<T>> {
    const attempts: CallAttempt[] = [];
    let reason = "no attempt made";
    for (let attempt = 0; attempt <= this.opts.retries; attempt++) {
      if (attempt > 0)
        await this.sleep(
          backoffDelay(attempt, {
            baseMs: this.opts.retryBaseMs ?? 200,
            maxMs: this.opts.retryMaxMs ?? 2000,
          }),
        );
      if (!this.opts.breaker.tryAcquire()) {
        attempts.push({ outcome: "circuit_open", durationMs: 0 });
        return { kind: "unknown", reason: "circuit_open", attempts };
      }
      const started = Date.now();
      let answer: Answer;
      try {
        answer = await this.request(method, path, form, idempotencyKey);
      } catch (err) {
        this.opts.breaker.recordFailure();
        const timedOut = (err as Error).name === "TimeoutError";
        reason = timedOut ? "timeout" : "network_error";
        attempts.push({
          outcome: timedOut ? "timeout" : "network_error",
          durationMs: Date.now() - started,
          error: errorText(err),
        });
        continue;
      }
      const durationMs = Date.now() - started;
      if (answer.status >= 500) {
        this.opts.breaker.recordFailure();
        reason = "server_error";
        attempts.push({
          outcome: "server_error",
          httpStatus: answer.status,
          durationMs,
          error: errorCodeOf(answer.body),
        });
        continue;
      }
      // Any answer below 500 means the provider is up.
      this.opts.breaker.recordSuccess();
      return this.interpret(answer, durationMs, attempts, parse);
    }
    return { kind: "unknown", reason, attempts };
  }

  private interpret<T>(
    answer: Answer,
    durationMs: number,
    attempts: CallAttempt[],
    parse: (body: unknown) => T,
  ): ProviderResult<T> {
    const { status, body } = answer;
    if (status >= 200 && status < 300) {
      let value: T;
      try {
        value = parse(body);
      } catch (err) {
        // An answer we cannot read settles nothing.
        attempts.push({
          outcome: "server_error",
          httpStatus: status,
          durationMs,
          error: errorText(err),
        });
        return { kind: "unknown", reason: "unreadable_answer", attempts };
      }
      attempts.push({ outcome: "ok", httpStatus: status, durationMs });
      return { kind: "ok", value, attempts };
    }
    const error = (body as StripeLikeError | null)?.error ?? {};
    const message = error.message ?? `HTTP ${status}`;
    if (status === 402 && error.type === "card_error") {
      attempts.push({ outcome: "declined", httpStatus: status, durationMs, error: error.code });
      return {
        kind: "declined",
        chargeId: error.charge,
        code: error.code ?? "card_declined",
        message,
        attempts,
      };
    }
    attempts.push({
      outcome: "rejected",
      httpStatus: status,
      durationMs,
      error: error.code ?? error.type,
    });
    // 409: the same key is still being processed; 429: not processed yet. Both settle nothing.
    if (status === 409 || status === 429)
      return { kind: "unknown", reason: status === 409 ? "conflict" : "rate_limited", attempts };
    return { kind: "rejected", status, code: error.code, message, attempts };
  }

  private async request(
    method: "GET" | "POST",
    path: string,
    form: URLSearchParams | undefined,
    idempotencyKey: string | undefined,
  ): Promise<Answer> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.opts.apiKey}`,
      accept: "application/json",
    };
    if (form) headers["content-type"] = "application/x-www-form-urlencoded";
    if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
    const init: RequestInit = {
      method,
      headers,
      body: form?.toString(),
      signal: AbortSignal.timeout(this.opts.timeoutMs),
    };
    // Node's fetch takes undici's `dispatcher` option; the DOM typings do not list it.
    if (this.dispatcher) (init as Record<string, unknown>).dispatcher = this.dispatcher;
    const res = await fetch(`${this.baseUrl}${path}`, init);
    const text = await res.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    return { status: res.status, body };
  }
}

/**
 * What an error answer is, for the attempts table: its code or type only.
 * A provider's message may quote the request (the token), so it is not kept.
 */
function errorCodeOf(body: unknown): string | undefined {
  const error = (body as StripeLikeError | null)?.error;
  return error?.code ?? error?.type;
}

function errorText(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return `${e.message ?? String(err)}${cause ? ` (${cause})` : ""}`.slice(0, 300);
}

/**
 * Node's fetch verifies certificates; only when verification is switched off
 * for an https provider does it need a dispatcher of its own (undici's Agent,
 * loaded only then).
 */
function insecureDispatcher(baseUrl: string, rejectUnauthorized: boolean): object | undefined {
  if (rejectUnauthorized || !baseUrl.startsWith("https:")) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Agent } = require("undici") as { Agent: new (o: object) => object };
  return new Agent({ connect: { rejectUnauthorized: false } });
}
