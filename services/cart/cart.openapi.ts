/** What the generated OpenAPI document says about the cart routes: a summary and an example cart. */
const money = { amount: 1250, currency: "EUR" };
export const cartExample = {
  id: "0b6f7c1e-4a59-4f7e-9a57-0d2d3c1e5b10",
  status: "active",
  userId: null,
  items: [
    {
      productId: "6f1c1d8e-2f3b-4c55-8a77-3e0f0c9f1a2b",
      name: "Wireless headphones",
      quantity: 2,
      unitPrice: money,
      lineTotal: { amount: 2500, currency: "EUR" },
      priceChanged: false,
      available: true,
      availableQuantity: 14,
    },
  ],
  subtotal: { amount: 2500, currency: "EUR" },
  itemCount: 2,
  hasPriceChanges: false,
  hasUnavailableItems: false,
  version: 3,
  updatedAt: "2025-01-01T12:00:00.000Z",
  expiresAt: "2025-01-08T12:00:00.000Z",
};
export const openapi = (summary: string, extra: Record<string, unknown> = {}) => ({
  summary,
  tags: ["cart"],
  response: cartExample,
  ...extra,
});
