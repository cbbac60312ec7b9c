import { randomUUID } from "node:crypto";
import type { OrderRecord } from "../../services/orders/domain/order";

/** A PENDING card order of one 12.50 EUR mug, new ids each time; `over` changes any field. */
export function orderRecord(over: Partial<OrderRecord> = {}): OrderRecord {
  const now = Date.now();
  return {
    id: randomUUID(),
    userId: randomUUID(),
    status: "PENDING",
    cancelReason: null,
    currency: "EUR",
    subtotal: 1250,
    total: 1250,
    lines: [
      {
        productId: randomUUID(),
        sku: "MUG-1",
        name: "Mug",
        quantity: 1,
        unitPrice: { amount: 1250, currency: "EUR" },
        lineTotal: { amount: 1250, currency: "EUR" },
      },
    ],
    shippingAddress: {
      name: "Sam",
      line1: "1 Main St",
      city: "Berlin",
      postalCode: "10115",
      country: "DE",
    },
    paymentMethod: "card",
    payment: null,
    cartId: null,
    trackingNumber: null,
    paymentDeadline: null,
    version: 1,
    createdAt: now,
    updatedAt: now,
    ...over,
  };
}
