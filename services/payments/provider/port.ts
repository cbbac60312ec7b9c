import type { CircuitState } from "../../../lib/resilience/circuit-breaker";

/**
 * What the payments service needs from a payment provider. Every result says
 * whether the outcome is known: a decline or another refusal is definite (no
 * money moved), while a timeout, a network error, a 5xx or an open circuit
 * leaves it unknown — the provider may have charged — so the caller must ask
 * again with the same idempotency key, never report a failure.
 */
export interface ChargeRequest {
  /** Stable across every retry of one payment (the payment id): the provider charges once. */
  idempotencyKey: string;
  amount: number;
  currency: string;
  /** A provider token (`tok_…`) or `bank_transfer`. Sent, never stored. */
  source: string;
  orderId: string;
}

export interface RefundRequest {
  idempotencyKey: string;
  chargeId: string;
  amount: number;
}

export interface ProviderCharge {
  id: string;
  status: "succeeded" | "pending" | "failed";
  amount: number;
  /** Upper-case ISO 4217. */
  currency: string;
  refunded: boolean;
  orderId?: string;
  card?: { brand: string; last4: string };
  failureCode?: string;
  failureMessage?: string;
}

export interface ProviderRefund {
  id: string;
  chargeId: string;
  amount: number;
}

/** One HTTP request to the provider, as recorded in payment_attempts (never its body). */
export interface CallAttempt {
  outcome:
    "ok" | "declined" | "rejected" | "server_error" | "timeout" | "network_error" | "circuit_open";
  httpStatus?: number;
  durationMs: number;
  error?: string;
}

export type ProviderResult<T> =
  | { kind: "ok"; value: T; attempts: CallAttempt[] }
  /** The card was declined (402 card_error): definite. */
  | { kind: "declined"; chargeId?: string; code: string; message: string; attempts: CallAttempt[] }
  /** Any other refusal (4xx): definite, nothing was charged. */
  | { kind: "rejected"; status: number; code?: string; message: string; attempts: CallAttempt[] }
  /** No answer that settles it: ask again later with the same idempotency key. */
  | { kind: "unknown"; reason: string; attempts: CallAttempt[] };

export interface PaymentProvider {
  /** Name in webhook routes and logs (`sandbox`). */
  readonly name: string;
  charge(request: ChargeRequest): Promise<ProviderResult<ProviderCharge>>;
  refund(request: RefundRequest): Promise<ProviderResult<ProviderRefund>>;
  retrieveCharge(chargeId: string): Promise<ProviderResult<ProviderCharge>>;
  readonly circuit: CircuitState;
}
