import type { ServiceBroker } from "moleculer";
import { ORDER_REFERENCE } from "../contracts/orders";
import type { InspectedOrder, ReferencedOrder } from "../../services/orders/order.use-cases";
import { formatMoney, Report, table } from "./output";

/**
 * REPL `order <id | reference>`: any customer's order as the orders service
 * holds it — status, lines, totals, payment — and its saga timeline, one row
 * per step with the message that caused or carried it. A reference (the
 * eight characters of the order's email subjects) shows its order, or lists
 * the orders it may mean when there are several.
 */
export async function showOrder(broker: ServiceBroker, idOrReference: string): Promise<Report> {
  if (!ORDER_REFERENCE.test(idOrReference)) return inspectOrder(broker, idOrReference);
  const reference = idOrReference.toUpperCase();
  const found = await broker.call<ReferencedOrder[], { reference: string }>(
    "orders.findByReference",
    { reference },
  );
  if (found.length === 1) return inspectOrder(broker, found[0].id);
  if (!found.length) return [`No order has the reference ${reference}.`];
  return [
    table(
      ["order", "status", "customer", "total", "created"],
      found.map((o) => [o.id, o.status, o.userId, formatMoney(o.total), o.createdAt]),
      `Orders with the reference ${reference}`,
    ),
    "Show one with: order <order>",
  ];
}

async function inspectOrder(broker: ServiceBroker, id: string): Promise<Report> {
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
      `Order ${order.id} (${order.reference})`,
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
