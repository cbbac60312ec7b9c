import { randomBytes } from "node:crypto";
import {
  apiError,
  ApiResponse,
  CardDetails,
  Charge,
  EventType,
  ProviderEvent,
  Refund,
} from "./types";

/**
 * The sandbox's books: charges, refunds and the events announcing them, in
 * memory. What a charge does depends on its source, named like Stripe's
 * test tokens:
 *
 *   tok_visa, tok_mastercard   succeeded
 *   tok_chargeDeclined         402 card_declined (a failed charge is recorded)
 *   tok_slow                   succeeded, answered after a delay (server.ts)
 *   tok_flaky                  500 on the first request of an idempotency key, then succeeded (server.ts)
 *   tok_async, bank_transfer   pending; settled later, announced by a signed webhook
 *
 * Any other source is an unknown token (400), as a real provider answers.
 */
export interface SourceBehaviour {
  outcome: "succeeded" | "declined" | "pending";
  method: "card" | "bank_transfer";
  card?: CardDetails;
  slow?: boolean;
  flaky?: boolean;
}

const visa = (last4: string): CardDetails => ({ brand: "visa", last4 });

export const SOURCES: Readonly<Record<string, SourceBehaviour>> = {
  tok_visa: { outcome: "succeeded", method: "card", card: visa("4242") },
  tok_mastercard: {
    outcome: "succeeded",
    method: "card",
    card: { brand: "mastercard", last4: "4444" },
  },
  tok_chargeDeclined: { outcome: "declined", method: "card", card: visa("0002") },
  tok_slow: { outcome: "succeeded", method: "card", card: visa("4242"), slow: true },
  tok_flaky: { outcome: "succeeded", method: "card", card: visa("4242"), flaky: true },
  tok_async: { outcome: "pending", method: "card", card: visa("3155") },
  bank_transfer: { outcome: "pending", method: "bank_transfer" },
};

export interface ChargeParams {
  amount: number;
  currency: string;
  source: string;
  metadata: Record<string, string>;
}

export class SandboxLedger {
  private readonly charges = new Map<string, Charge>();
  private readonly refunds = new Map<string, Refund>();
  private readonly events = new Map<string, ProviderEvent>();

  constructor(private readonly announce: (event: ProviderEvent) => void) {}

  createCharge(params: ChargeParams): ApiResponse {
    const behaviour = SOURCES[params.source];
    if (!behaviour)
      return apiError(400, "invalid_request_error", `No such token: '${params.source}'`, {
        code: "resource_missing",
        param: "source",
      });
    const charge = this.record(params, behaviour);
    if (behaviour.outcome === "declined") {
      this.emit("charge.failed", charge);
      return apiError(402, "card_error", "Your card was declined.", {
        code: "card_declined",
        decline_code: "generic_decline",
        charge: charge.id,
      });
    }
    this.emit(behaviour.outcome === "pending" ? "charge.pending" : "charge.succeeded", charge);
    return { status: 200, body: charge };
  }

  getCharge(id: string): Charge | undefined {
    const charge = this.charges.get(id);
    return charge && { ...charge };
  }

  /** Test helper: settles a pending charge now and announces it. */
  settle(id: string, outcome: "succeeded" | "failed"): ApiResponse {
    const charge = this.charges.get(id);
    if (!charge) return noSuchCharge(id);
    if (charge.status !== "pending")
      return apiError(400, "invalid_request_error", `Charge ${id} is not pending`, {
        code: "charge_not_pending",
      });
    if (outcome === "succeeded") Object.assign(charge, { status: "succeeded", paid: true });
    else
      Object.assign(charge, {
        status: "failed",
        failure_code: "payment_failed",
        failure_message: "The payment could not be completed.",
      });
    const event = this.emit(outcome === "succeeded" ? "charge.succeeded" : "charge.failed", charge);
    return { status: 200, body: { charge: { ...charge }, event } };
  }

  createRefund(params: { charge: string; amount?: number }): ApiResponse {
    const charge = this.charges.get(params.charge);
    if (!charge) return noSuchCharge(params.charge);
    if (charge.status !== "succeeded")
      return apiError(400, "invalid_request_error", `Charge ${charge.id} has not succeeded`, {
        code: "charge_not_captured",
      });
    if (charge.refunded)
      return apiError(400, "invalid_request_error", `Charge ${charge.id} is already refunded`, {
        code: "charge_already_refunded",
      });
    const amount = params.amount ?? charge.amount - charge.amount_refunded;
    if (!Number.isInteger(amount) || amount < 1 || amount > charge.amount - charge.amount_refunded)
      return apiError(400, "invalid_request_error", "Refund amount is invalid", {
        code: "amount_too_large",
        param: "amount",
      });
    const refund: Refund = {
      id: newId("re"),
      object: "refund",
      amount,
      charge: charge.id,
      currency: charge.currency,
      status: "succeeded",
      created: unixNow(),
    };
    this.refunds.set(refund.id, refund);
    charge.amount_refunded += amount;
    charge.refunded = charge.amount_refunded === charge.amount;
    this.emit("charge.refunded", charge);
    return { status: 200, body: refund };
  }

  /** Test helper: every charge made for an order (failed ones included), oldest first. */
  chargesForOrder(orderId: string): Charge[] {
    return [...this.charges.values()]
      .filter((c) => c.metadata.order_id === orderId)
      .map((c) => ({ ...c }));
  }

  refundsForCharge(chargeId: string): Refund[] {
    return [...this.refunds.values()].filter((r) => r.charge === chargeId);
  }

  event(id: string): ProviderEvent | undefined {
    return this.events.get(id);
  }

  eventsForCharge(chargeId: string): ProviderEvent[] {
    return [...this.events.values()].filter((e) => e.data.object.id === chargeId);
  }

  private record(params: ChargeParams, behaviour: SourceBehaviour): Charge {
    const failed = behaviour.outcome === "declined";
    const charge: Charge = {
      id: newId("ch"),
      object: "charge",
      amount: params.amount,
      currency: params.currency.toLowerCase(),
      status: behaviour.outcome === "declined" ? "failed" : behaviour.outcome,
      paid: behaviour.outcome === "succeeded",
      refunded: false,
      amount_refunded: 0,
      failure_code: failed ? "card_declined" : null,
      failure_message: failed ? "Your card was declined." : null,
      metadata: { ...params.metadata },
      payment_method_details: {
        type: behaviour.method,
        ...(behaviour.card ? { card: { ...behaviour.card } } : {}),
      },
      created: unixNow(),
      livemode: false,
    };
    this.charges.set(charge.id, charge);
    return { ...charge };
  }

  /** Records an event with a snapshot of the charge and hands it to the webhook sender. */
  private emit(type: EventType, charge: Charge): ProviderEvent {
    const event: ProviderEvent = {
      id: newId("evt"),
      object: "event",
      type,
      created: unixNow(),
      data: { object: { ...charge, metadata: { ...charge.metadata } } },
    };
    this.events.set(event.id, event);
    this.announce(event);
    return event;
  }
}

function noSuchCharge(id: string): ApiResponse {
  return apiError(404, "invalid_request_error", `No such charge: '${id}'`, {
    code: "resource_missing",
  });
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString("hex")}`;
}

export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}
