import type { PaymentRecord } from "../../services/payments/domain/payment";

/** A card payment of one 25.99 EUR mug, still PENDING; `over` changes any field. */
export function paymentRecord(over: Partial<PaymentRecord> = {}): PaymentRecord {
  return {
    id: "pay-1",
    orderId: "order-1",
    userId: "user-1",
    method: "card",
    status: "PENDING",
    amount: { amount: 2599, currency: "EUR" },
    lines: [
      {
        productId: "p-1",
        sku: "SKU-1",
        name: "Mug",
        quantity: 1,
        unitPrice: { amount: 2599, currency: "EUR" },
        lineTotal: { amount: 2599, currency: "EUR" },
      },
    ],
    providerChargeId: null,
    idempotencyKey: "pay-1",
    failureCode: null,
    failureMessage: null,
    card: null,
    refundRequested: false,
    refundReason: null,
    chargeTries: 0,
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}
