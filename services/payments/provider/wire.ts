import type { ProviderCharge, ProviderRefund } from "./port";

/**
 * The provider's JSON objects (Stripe's shapes: snake_case, lower-case
 * currency) read into ours. A body that is not what it claims throws.
 */
interface WireCharge {
  id: string;
  status: ProviderCharge["status"];
  amount: number;
  currency: string;
  refunded?: boolean;
  metadata?: Record<string, string>;
  failure_code?: string | null;
  failure_message?: string | null;
  payment_method_details?: { card?: { brand?: string; last4?: string } };
}

interface WireRefund {
  id: string;
  charge: string;
  amount: number;
}

export function parseCharge(body: unknown): ProviderCharge {
  const c = body as WireCharge;
  if (!c || typeof c.id !== "string" || !["succeeded", "pending", "failed"].includes(c.status))
    throw new Error("not a charge");
  const card = c.payment_method_details?.card;
  return {
    id: c.id,
    status: c.status,
    amount: c.amount,
    currency: String(c.currency).toUpperCase(),
    refunded: c.refunded === true,
    orderId: c.metadata?.order_id,
    ...(card?.brand && card.last4 ? { card: { brand: card.brand, last4: card.last4 } } : {}),
    ...(c.failure_code ? { failureCode: c.failure_code } : {}),
    ...(c.failure_message ? { failureMessage: c.failure_message } : {}),
  };
}

export function parseRefund(body: unknown): ProviderRefund {
  const r = body as WireRefund;
  if (!r || typeof r.id !== "string" || typeof r.charge !== "string")
    throw new Error("not a refund");
  return { id: r.id, chargeId: r.charge, amount: r.amount };
}

/** A webhook event: its id, type and time, and the charge it is about (null for other objects). */
export interface ProviderEventSummary {
  id: string;
  type: string;
  /** Unix seconds. */
  created: number;
  charge: ProviderCharge | null;
}

export function parseEvent(body: unknown): ProviderEventSummary {
  const e = body as {
    id?: unknown;
    type?: unknown;
    created?: unknown;
    data?: { object?: unknown };
  };
  if (!e || typeof e.id !== "string" || typeof e.type !== "string")
    throw new Error("not a provider event: id and type are required");
  const object = e.data?.object as { object?: unknown } | undefined;
  return {
    id: e.id,
    type: e.type,
    created: typeof e.created === "number" ? e.created : 0,
    charge: object?.object === "charge" ? parseCharge(object) : null,
  };
}
