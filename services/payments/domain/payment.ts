import type { Money } from "../../../lib/contracts/catalog";
import type {
  OrderLine,
  PaymentMethodType,
  PaymentStatus,
  Receipt,
} from "../../../lib/contracts/orders";

/**
 * A payment's state machine, in one place:
 *
 *   PENDING ──charge succeeded──▶ SUCCEEDED ──refund──▶ REFUNDED
 *      ├──declined / refused──▶ FAILED
 *      └──cash on delivery──▶ AWAITING_COLLECTION (nothing charged)
 *
 * FAILED, REFUNDED and AWAITING_COLLECTION are terminal. Asking for the
 * state a payment is already in is a repeat (a duplicate command or
 * webhook: no effect); anything else is illegal and changes nothing.
 */
export const TRANSITIONS: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  PENDING: ["SUCCEEDED", "FAILED", "AWAITING_COLLECTION"],
  SUCCEEDED: ["REFUNDED"],
  FAILED: [],
  REFUNDED: [],
  AWAITING_COLLECTION: [],
};

export type TransitionDecision =
  | { kind: "apply" }
  | { kind: "repeat" }
  | { kind: "illegal"; from: PaymentStatus; to: PaymentStatus };

export function decideTransition(from: PaymentStatus, to: PaymentStatus): TransitionDecision {
  if (from === to) return { kind: "repeat" };
  return TRANSITIONS[from].includes(to) ? { kind: "apply" } : { kind: "illegal", from, to };
}

/**
 * The transitions that take a payment from `from` to `to`, in order: [] when
 * it is already there, null when `to` cannot be reached (a stale or
 * out-of-order report). A webhook saying a pending charge was refunded
 * arrived before the one saying it succeeded: both steps apply, in order.
 */
export function pathTo(from: PaymentStatus, to: PaymentStatus): PaymentStatus[] | null {
  if (from === to) return [];
  if (TRANSITIONS[from].includes(to)) return [to];
  for (const step of TRANSITIONS[from]) {
    const rest = TRANSITIONS[step].includes(to) ? [to] : null;
    if (rest) return [step, ...rest];
  }
  return null;
}

export interface CardSummary {
  brand: string;
  last4: string;
}

/** A payment as stored. */
export interface PaymentRecord {
  id: string;
  orderId: string;
  userId: string;
  method: PaymentMethodType;
  status: PaymentStatus;
  amount: Money;
  lines: OrderLine[];
  providerChargeId: string | null;
  idempotencyKey: string;
  failureCode: string | null;
  failureMessage: string | null;
  card: CardSummary | null;
  refundRequested: boolean;
  refundReason: string | null;
  chargeTries: number;
  createdAt: number;
  updatedAt: number;
}

/** Failure codes of PaymentFailed (lib/contracts/orders.ts). */
export const FailureCodes = {
  /** The provider declined the card, or refused the payment for good. */
  Declined: "DECLINED",
  /** The provider refused the request itself (our side or its side is misconfigured). */
  ProviderError: "PROVIDER_ERROR",
} as const;

/**
 * True while a charge was (maybe) sent but no answer settled it: the payment
 * is still PENDING and the provider has not named a charge. Only then may
 * the same charge be sent again (same idempotency key). A payment waiting
 * for a webhook has a charge id and is not re-sent.
 */
export function chargeOutcomeUnknown(payment: PaymentRecord): boolean {
  return (
    payment.status === "PENDING" &&
    payment.providerChargeId === null &&
    payment.method !== "cash_on_delivery"
  );
}

/** The payment state a provider's charge snapshot stands for; null while it is still pending. */
export function statusOfCharge(charge: {
  status: "succeeded" | "pending" | "failed";
  refunded: boolean;
}): PaymentStatus | null {
  if (charge.refunded) return "REFUNDED";
  if (charge.status === "succeeded") return "SUCCEEDED";
  if (charge.status === "failed") return "FAILED";
  return null;
}

/** GET /payments/:id. */
export interface PaymentView {
  id: string;
  orderId: string;
  userId: string;
  status: PaymentStatus;
  amount: Money;
  method: PaymentMethodType;
  providerReference: string | null;
  card: CardSummary | null;
  failureCode: string | null;
  failureMessage: string | null;
  refundRequested: boolean;
  receiptNumber: string | null;
  createdAt: string;
  updatedAt: string;
}

export function toView(
  payment: PaymentRecord,
  receipt: Pick<Receipt, "receiptNumber"> | null,
): PaymentView {
  return {
    id: payment.id,
    orderId: payment.orderId,
    userId: payment.userId,
    status: payment.status,
    amount: payment.amount,
    method: payment.method,
    providerReference: payment.providerChargeId,
    card: payment.card,
    failureCode: payment.failureCode,
    failureMessage: payment.failureMessage,
    refundRequested: payment.refundRequested,
    receiptNumber: receipt?.receiptNumber ?? null,
    createdAt: new Date(payment.createdAt).toISOString(),
    updatedAt: new Date(payment.updatedAt).toISOString(),
  };
}
