/**
 * Wire shapes of the sandbox payment provider, modelled on Stripe's API
 * (snake_case fields, unix-second timestamps, `{error: {type, code, message}}`).
 */
export type ChargeStatus = "succeeded" | "pending" | "failed";

export interface CardDetails {
  brand: string;
  last4: string;
}

export interface Charge {
  id: string;
  object: "charge";
  amount: number;
  /** Lower-case ISO 4217, as Stripe writes it. */
  currency: string;
  status: ChargeStatus;
  paid: boolean;
  refunded: boolean;
  amount_refunded: number;
  failure_code: string | null;
  failure_message: string | null;
  metadata: Record<string, string>;
  payment_method_details: { type: "card" | "bank_transfer"; card?: CardDetails };
  /** Unix seconds. */
  created: number;
  livemode: false;
}

export interface Refund {
  id: string;
  object: "refund";
  amount: number;
  charge: string;
  currency: string;
  status: "succeeded";
  created: number;
}

export type EventType = "charge.succeeded" | "charge.failed" | "charge.pending" | "charge.refunded";

export interface ProviderEvent {
  id: string;
  object: "event";
  type: EventType;
  created: number;
  data: { object: Charge };
}

export interface ApiError {
  error: {
    type: "invalid_request_error" | "card_error" | "api_error" | "idempotency_error";
    code?: string;
    message: string;
    param?: string;
    decline_code?: string;
    charge?: string;
  };
}

/** What a handler answers: an HTTP status and a JSON body. */
export interface ApiResponse {
  status: number;
  body: unknown;
}

export function apiError(
  status: number,
  type: ApiError["error"]["type"],
  message: string,
  extra: Omit<ApiError["error"], "type" | "message"> = {},
): ApiResponse {
  return { status, body: { error: { type, message, ...extra } } satisfies ApiError };
}
