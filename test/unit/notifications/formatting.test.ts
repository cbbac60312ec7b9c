import { notificationId } from "../../../services/notifications/domain/notification-id";
import {
  maskEmail,
  maskPhone,
  normalizePhone,
} from "../../../services/notifications/domain/recipients";
import { formatMoney, TemplateRenderer } from "../../../services/notifications/templates";

/** What customers read in their messages, and what the logs may show of them. */
describe("notification formatting", () => {
  it("formats integer minor units exactly, with the currency's own decimals", () => {
    expect(formatMoney({ amount: 1234, currency: "USD" })).toBe("$12.34");
    expect(formatMoney({ amount: 5, currency: "USD" })).toBe("$0.05");
    expect(formatMoney({ amount: 123456789012, currency: "USD" })).toBe("$1,234,567,890.12");
    expect(formatMoney({ amount: 1999, currency: "EUR" })).toBe("€19.99");
    expect(formatMoney({ amount: 1500, currency: "JPY" })).toBe("¥1,500");
    expect(formatMoney({ amount: 1234, currency: "KWD" })).toBe("KWD\u00a01.234");
    expect(formatMoney({ amount: -250, currency: "USD" })).toBe("-$2.50");
    expect(() => formatMoney({ amount: 12.5, currency: "USD" })).toThrow(/integer minor units/);
  });

  it("renders the order confirmation with lines, totals and escaped HTML", async () => {
    const renderer = await TemplateRenderer.load();
    const email = renderer.email("order-confirmed", {
      name: "Ann <Admin>",
      orderId: "0f8a4c1e-0000-4000-8000-000000000001",
      orderRef: "0F8A4C1E",
      lines: [
        {
          name: "Kettle & Cups",
          quantity: 2,
          unitPrice: { amount: 1250, currency: "USD" },
          lineTotal: { amount: 2500, currency: "USD" },
        },
        { name: "Unknown product", quantity: 1, unitPrice: null, lineTotal: null },
      ],
      total: { amount: 2899, currency: "USD" },
    });
    expect(email.subject).toBe("Your order 0F8A4C1E is confirmed");
    expect(email.text).toContain("Hello Ann <Admin>,");
    expect(email.text).toContain(
      "Order 0F8A4C1E (order number 0f8a4c1e-0000-4000-8000-000000000001)",
    );
    expect(email.text).toContain("2 x Kettle & Cups  $25.00\n1 x Unknown product\n");
    expect(email.text).toContain("Total: $28.99");
    expect(email.html).toContain("Hello Ann &lt;Admin&gt;,");
    expect(email.html).toContain("<td>Kettle &amp; Cups</td>");
    expect(
      renderer.sms("order-confirmed", {
        orderRef: "0F8A4C1E",
        total: { amount: 2899, currency: "USD" },
      }),
    ).toBe("Your order 0F8A4C1E is confirmed. Total $28.99. We will text you when it ships.");
  });

  it("refuses data that lacks a field the template shows", async () => {
    const renderer = await TemplateRenderer.load();
    expect(() => renderer.email("welcome", {})).toThrow(/"name" not defined/);
  });

  it("names a notification after its cause, the same every time", () => {
    const id = notificationId("message-1", "welcome", "email");
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(notificationId("message-1", "welcome", "email")).toBe(id);
    expect(notificationId("message-1", "welcome", "sms")).not.toBe(id);
    expect(notificationId("message-2", "welcome", "email")).not.toBe(id);
  });

  it("sends phone numbers as digits and masks contact details in logs", () => {
    expect(normalizePhone("+49 (151) 2345-6789")).toBe("+4915123456789");
    expect(normalizePhone("call me")).toBeUndefined();
    expect(maskPhone("+4915123456789")).toBe("+***********89");
    expect(maskEmail("ann.smith@example.com")).toBe("a***@example.com");
  });
});
