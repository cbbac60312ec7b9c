import type {
  OrderLine,
  PaymentMethodInput,
  PaymentMethodType,
  ProcessPaymentCommand,
  RefundPaymentCommand,
} from "../../../lib/contracts/orders";
import { findCardData } from "../../../lib/security/card-data";

/**
 * Checks of the commands the orders saga sends on payments.commands. A
 * message that cannot be understood at all (no order id, no amount) throws
 * InvalidCommandError and so ends in the DLQ for an operator. A payment
 * method that can never be charged (card data instead of a token, a card
 * without a token) is not a malformed message but a refused payment: the
 * caller records it as FAILED and answers PaymentFailed.
 */
export class InvalidCommandError extends Error {
  override readonly name = "InvalidCommandError";
}

export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const CURRENCY_PATTERN = /^[A-Z]{3}$/;
/** Provider tokens: `tok_…`-like identifiers, never anything with spaces or digits only. */
const TOKEN_PATTERN = /^[A-Za-z][A-Za-z0-9_]{2,99}$/;
const METHOD_TYPES: readonly PaymentMethodType[] = ["card", "cash_on_delivery", "bank_transfer"];
const MAX_AMOUNT = 1_000_000_000_000;
const MAX_LINES = 1000;
const MAX_REASON = 200;

/** Why a payment method is refused without asking the provider. */
export type MethodProblem = "CARD_DATA" | "MISSING_TOKEN" | "INVALID_TOKEN";

export const METHOD_PROBLEM_MESSAGES: Record<MethodProblem, string> = {
  CARD_DATA: "Card numbers and security codes are not accepted: pay with a provider token",
  MISSING_TOKEN: "A card payment needs a provider token",
  INVALID_TOKEN: "The card token is not a provider token",
};

export function parseProcessPayment(payload: unknown): ProcessPaymentCommand {
  const p = objectOf(payload, "payload");
  const amount = objectOf(p.amount, "amount");
  if (
    !Number.isSafeInteger(amount.amount) ||
    (amount.amount as number) <= 0 ||
    (amount.amount as number) > MAX_AMOUNT
  )
    throw new InvalidCommandError("amount.amount must be a positive integer (minor units)");
  if (typeof amount.currency !== "string" || !CURRENCY_PATTERN.test(amount.currency))
    throw new InvalidCommandError("amount.currency must be an ISO 4217 code");
  const method = objectOf(p.method, "method");
  if (!METHOD_TYPES.includes(method.type as PaymentMethodType))
    throw new InvalidCommandError(`method.type must be one of ${METHOD_TYPES.join(", ")}`);
  if (!Array.isArray(p.lines) || p.lines.length > MAX_LINES || !p.lines.every(isObject))
    throw new InvalidCommandError(`lines must be an array of at most ${MAX_LINES} objects`);
  return {
    orderId: idOf(p.orderId, "orderId"),
    userId: idOf(p.userId, "userId"),
    amount: { amount: amount.amount as number, currency: amount.currency },
    method: method as unknown as PaymentMethodInput,
    lines: p.lines as unknown as OrderLine[],
  };
}

export function parseRefundPayment(payload: unknown): RefundPaymentCommand {
  const p = objectOf(payload, "payload");
  const reason = typeof p.reason === "string" && p.reason.trim() ? p.reason.trim() : "REFUND";
  return { orderId: idOf(p.orderId, "orderId"), reason: reason.slice(0, MAX_REASON) };
}

/** What is wrong with a method before any provider is asked; null when it may be charged. */
export function methodProblem(method: PaymentMethodInput): MethodProblem | null {
  // Checked for every type: card data is refused whatever the method says it is.
  if (findCardData(method)) return "CARD_DATA";
  if (method.type !== "card") return null;
  if (method.token === undefined || method.token === null || method.token === "")
    return "MISSING_TOKEN";
  return typeof method.token === "string" && TOKEN_PATTERN.test(method.token)
    ? null
    : "INVALID_TOKEN";
}

/** What the provider is asked to charge: the card's token, or the bank transfer itself. */
export function chargeSource(method: PaymentMethodInput): string {
  return method.type === "card" ? method.token! : "bank_transfer";
}

function objectOf(value: unknown, name: string): Record<string, unknown> {
  if (!isObject(value)) throw new InvalidCommandError(`${name} must be an object`);
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function idOf(value: unknown, name: string): string {
  if (typeof value !== "string" || !ID_PATTERN.test(value))
    throw new InvalidCommandError(`${name} must be 1–64 letters, digits or . _ : -`);
  return value;
}
