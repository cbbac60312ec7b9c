import { ID_PATTERN } from "./domain/command";

/**
 * Request schemas (fastest-validator), `$$strict: true` everywhere: a field
 * not listed is a 400 naming it.
 */
const entityId = {
  type: "string",
  min: 1,
  max: 64,
  pattern: ID_PATTERN,
  patternMessage: "must be 1–64 letters, digits or . _ : -",
};

/** GET /payments/:id — the payment's id or its order's id. */
export const getPaymentParams = { $$strict: true, id: entityId };
export interface GetPaymentParams {
  id: string;
}

export const receiptParams = { $$strict: true, orderId: entityId, userId: entityId };
export interface ReceiptParams {
  orderId: string;
  userId: string;
}

/** What the gateway's webhook route passes on (services/api/routes.ts). */
export const receiveWebhookParams = {
  $$strict: true,
  provider: { type: "string", min: 1, max: 32, pattern: /^[a-z0-9-]+$/ },
  rawBody: { type: "string", max: 1024 * 1024 },
  signature: { type: "string", max: 2000, optional: true },
};
export interface ReceiveWebhookParams {
  provider: string;
  rawBody: string;
  signature?: string;
}
