import type { ServiceBroker } from "moleculer";
import type { InspectedOrder } from "../../services/orders/order.use-cases";
import { formatMoney, Report, table } from "./output";

/**
 * REPL `order <id>`: any customer's order as the orders service holds it —
 * status, lines, totals, payment — and its saga timeline, one row per step
 * with the message that caused or carried it.
 */
export async function showOrder(broker: ServiceBroker, id: string): Promise<Report> {
  const order = await broker.call<InspectedOrder, { id: string }>("orders.inspect", { id });
  const facts: [string, string | null][] = [
    ["status", order.status],
    ["cancel reason", order.cancelReason],
    ["customer", order.userId],
    ["total", `${formatMoney(order.total)} (${order.itemCount} item(s))`],
    ["payment method", order.paymentMethod.type],
    [
      "payment",
      order.payment
        ? `${order.payment.status} ${order.payment.id} ${order.payment.providerReference ?? ""}`.trim()
        : null,
    ],
    ["payment deadline", order.paymentDeadline],
    ["tracking number", order.trackingNumber],
    ["cart", order.cartId],
    ["created", order.createdAt],
    ["updated", order.updatedAt],
  ];
  return [
    table(
      ["field", "value"],
      facts.filter(([, value]) => value !== null),
      `Order ${order.id}`,
    ),
    table(
      ["product", "sku", "name", "quantity", "unit price", "line total"],
      order.lines.map((l) => [
        l.productId,
        l.sku,
        l.name,
        l.quantity,
        formatMoney(l.unitPrice),
        formatMoney(l.lineTotal),
      ]),
      "Lines",
    ),
    table(
      ["#", "step", "at", "detail", "message", "caused by"],
      order.timeline.map((s) => [s.seq, s.step, s.at, s.detail, s.messageId, s.causationId]),
      "Saga timeline",
    ),
  ];
}
