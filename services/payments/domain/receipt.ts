import type { Receipt } from "../../../lib/contracts/orders";
import type { PaymentRecord } from "./payment";

/**
 * The receipt of a successful payment: what was bought, what was paid, how
 * and when. Its number is readable (date first) and unique per payment
 * (derived from the payment id), so recording it twice is impossible.
 */
export function receiptNumber(paymentId: string, paidAt: number): string {
  const day = new Date(paidAt).toISOString().slice(0, 10).replace(/-/g, "");
  const serial = paymentId
    .replace(/[^A-Za-z0-9]/g, "")
    .slice(0, 12)
    .toUpperCase();
  return `R-${day}-${serial}`;
}

export function receiptFor(payment: PaymentRecord, paidAt: number): Receipt {
  return {
    receiptNumber: receiptNumber(payment.id, paidAt),
    orderId: payment.orderId,
    paymentId: payment.id,
    userId: payment.userId,
    lines: payment.lines,
    total: payment.amount,
    method: payment.method,
    providerReference: payment.providerChargeId,
    paidAt: new Date(paidAt).toISOString(),
  };
}
