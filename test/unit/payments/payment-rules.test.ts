import type { ProcessPaymentCommand } from "../../../lib/contracts/orders";
import {
  InvalidCommandError,
  methodProblem,
  parseProcessPayment,
  parseRefundPayment,
} from "../../../services/payments/domain/command";
import {
  chargeOutcomeUnknown,
  decideTransition,
  pathTo,
  statusOfCharge,
} from "../../../services/payments/domain/payment";
import { receiptFor, receiptNumber } from "../../../services/payments/domain/receipt";
import { paymentRecord } from "../../helpers/payment-records";

/** The payment rules with no broker: state machine, command checks, receipts. */
describe("payment state machine", () => {
  it("allows only the drawn transitions; a repeat is not a change", () => {
    expect(decideTransition("PENDING", "SUCCEEDED")).toEqual({ kind: "apply" });
    expect(decideTransition("PENDING", "FAILED")).toEqual({ kind: "apply" });
    expect(decideTransition("PENDING", "AWAITING_COLLECTION")).toEqual({ kind: "apply" });
    expect(decideTransition("SUCCEEDED", "REFUNDED")).toEqual({ kind: "apply" });
    expect(decideTransition("SUCCEEDED", "SUCCEEDED")).toEqual({ kind: "repeat" });
    for (const [from, to] of [
      ["FAILED", "SUCCEEDED"],
      ["SUCCEEDED", "FAILED"],
      ["REFUNDED", "SUCCEEDED"],
      ["PENDING", "REFUNDED"],
      ["AWAITING_COLLECTION", "REFUNDED"],
    ] as const)
      expect(decideTransition(from, to)).toEqual({ kind: "illegal", from, to });
  });

  it("finds the way to where a provider's report says the payment is, or none for a stale report", () => {
    expect(pathTo("PENDING", "SUCCEEDED")).toEqual(["SUCCEEDED"]);
    // A refund reported before the success: both apply, in order.
    expect(pathTo("PENDING", "REFUNDED")).toEqual(["SUCCEEDED", "REFUNDED"]);
    expect(pathTo("REFUNDED", "REFUNDED")).toEqual([]);
    expect(pathTo("REFUNDED", "SUCCEEDED")).toBeNull();
    expect(pathTo("SUCCEEDED", "FAILED")).toBeNull();
    expect(pathTo("FAILED", "SUCCEEDED")).toBeNull();
  });

  it("reads a charge snapshot as a payment state", () => {
    expect(statusOfCharge({ status: "succeeded", refunded: false })).toBe("SUCCEEDED");
    expect(statusOfCharge({ status: "succeeded", refunded: true })).toBe("REFUNDED");
    expect(statusOfCharge({ status: "failed", refunded: false })).toBe("FAILED");
    expect(statusOfCharge({ status: "pending", refunded: false })).toBeNull();
  });

  it("re-sends a charge only while nothing settled it", () => {
    const pending = payment({ status: "PENDING", providerChargeId: null });
    expect(chargeOutcomeUnknown(pending)).toBe(true);
    expect(chargeOutcomeUnknown({ ...pending, providerChargeId: "ch_1" })).toBe(false);
    expect(chargeOutcomeUnknown({ ...pending, status: "FAILED" })).toBe(false);
    expect(chargeOutcomeUnknown({ ...pending, method: "cash_on_delivery" })).toBe(false);
  });
});

describe("payment commands", () => {
  const command: ProcessPaymentCommand = {
    orderId: "order-1",
    userId: "user-1",
    amount: { amount: 2599, currency: "EUR" },
    method: { type: "card", token: "tok_visa" },
    lines: [],
  };

  it("accepts a well-formed ProcessPayment and RefundPayment", () => {
    expect(parseProcessPayment(command)).toEqual(command);
    expect(parseRefundPayment({ orderId: "order-1", reason: " PAYMENT_TIMEOUT " })).toEqual({
      orderId: "order-1",
      reason: "PAYMENT_TIMEOUT",
    });
  });

  it.each([
    ["no order id", { ...command, orderId: undefined }, /orderId/],
    ["a float amount", { ...command, amount: { amount: 25.99, currency: "EUR" } }, /amount/],
    ["a zero amount", { ...command, amount: { amount: 0, currency: "EUR" } }, /amount/],
    ["a lower-case currency", { ...command, amount: { amount: 1, currency: "eur" } }, /currency/],
    ["an unknown method", { ...command, method: { type: "cheque" } }, /method.type/],
    ["lines that are not a list", { ...command, lines: "two" }, /lines/],
  ])("refuses a command with %s", (_what, payload, message) => {
    expect(() => parseProcessPayment(payload)).toThrow(InvalidCommandError);
    expect(() => parseProcessPayment(payload)).toThrow(message);
  });

  it("refuses card data and cards without a usable token, whatever the method claims", () => {
    expect(methodProblem({ type: "card", token: "tok_visa" })).toBeNull();
    expect(methodProblem({ type: "bank_transfer" })).toBeNull();
    expect(methodProblem({ type: "cash_on_delivery" })).toBeNull();
    expect(methodProblem({ type: "card", token: "4242 4242 4242 4242" })).toBe("CARD_DATA");
    expect(methodProblem({ type: "bank_transfer", cvv: "123" } as never)).toBe("CARD_DATA");
    expect(methodProblem({ type: "card" })).toBe("MISSING_TOKEN");
    expect(methodProblem({ type: "card", token: "tok visa; drop" })).toBe("INVALID_TOKEN");
  });
});

describe("receipts", () => {
  it("numbers a receipt by day and payment, and copies what was bought and paid", () => {
    const paidAt = Date.UTC(2025, 0, 31, 23, 59);
    const p = payment({ id: "5b0c1f4e-2a9d-4c4e-9b1a-0f6f3c1d2e3a", providerChargeId: "ch_9" });
    expect(receiptNumber(p.id, paidAt)).toBe("R-20250131-5B0C1F4E2A9D");
    expect(receiptFor(p, paidAt)).toEqual({
      receiptNumber: "R-20250131-5B0C1F4E2A9D",
      orderId: p.orderId,
      paymentId: p.id,
      userId: p.userId,
      lines: p.lines,
      total: p.amount,
      method: "card",
      providerReference: "ch_9",
      paidAt: "2025-01-31T23:59:00.000Z",
    });
  });
});

const payment = paymentRecord;
