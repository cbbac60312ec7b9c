import type { ServiceBroker } from "moleculer";
import type { StockLevel } from "../../lib/contracts/catalog";
import type { OrderView } from "../../services/orders/domain/order-view";
import type { Charge, ProviderEvent, Refund } from "../../services/payments/sandbox/types";
import { sleep } from "../helpers/wait";
import { Api, inBatches, ordersOf, Shopper, StockedProduct } from "./shop";

/**
 * What must hold once a checkout burst has settled, whatever was killed or
 * dropped on the way. Each check returns the problems it finds as sentences
 * (empty: all good), so a test that waits for them to go away can show every
 * one that is left when time runs out.
 *
 *  - every order a customer can see is CONFIRMED or CANCELLED, and every
 *    order whose POST answered 201 is among them;
 *  - the provider's books: a confirmed order has exactly one successful
 *    charge of its total and no refund; a cancelled one has captured nothing
 *    net (never charged, or charged and refunded in full);
 *  - stock: on hand = initial − what confirmed orders bought, nothing reserved,
 *    no reservation left RESERVED;
 *  - no message applied twice to an order (its timeline);
 *  - no outbox row left unpublished.
 */
export type ChargeWithRefunds = Charge & { refunds: Refund[] };

/** The sandbox provider's test helpers: what it charged and refunded per order, what it announced. */
export function sandboxLedger(url: string, apiKey: string) {
  async function list<T>(path: string): Promise<T[]> {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${apiKey}` } });
    if (!res.ok) throw new Error(`The sandbox's ${path} answered ${res.status}`);
    return ((await res.json()) as { data: T[] }).data;
  }
  return {
    chargesOf: (orderId: string) =>
      list<ChargeWithRefunds>(`/v1/test_helpers/charges?order_id=${orderId}`),
    /** The events (webhooks) the provider sent about a charge. */
    eventsOf: (chargeId: string) =>
      list<ProviderEvent>(`/v1/test_helpers/events?charge=${chargeId}`),
  };
}

export type SandboxLedger = ReturnType<typeof sandboxLedger>;

export interface Settlement {
  problems: string[];
  /** Every order the shoppers can see, in full (set once they are all terminal). */
  orders: OrderView[];
  /** Cancelled orders whose charge succeeded and was then refunded in full. */
  refundedAfterCharge: number;
}

export interface SettlementCheck {
  api: Api;
  broker: ServiceBroker;
  ledger: SandboxLedger;
  shoppers: Shopper[];
  products: StockedProduct[];
  /** Ids of the orders whose POST answered 201. */
  created: string[];
  /** Services whose outbox must be empty. */
  outboxes: string[];
}

const TERMINAL = new Set(["CONFIRMED", "CANCELLED"]);

/** Checks everything once; cheap checks first, so an unsettled burst costs little. */
export async function settlement(check: SettlementCheck): Promise<Settlement> {
  const { api, shoppers } = check;
  const listed = await ordersOf(api, shoppers);
  const problems = check.created
    .filter((id) => !listed.has(id))
    .map((id) => `order ${id} answered 201 but its customer does not see it`);
  for (const [id, { summary }] of listed)
    if (!TERMINAL.has(summary.status)) problems.push(`order ${id} is still ${summary.status}`);
  if (problems.length) return { problems, orders: [], refundedAfterCharge: 0 };

  const orders = await inBatches([...listed.values()], 8, async ({ shopper, summary }) => {
    const res = await api<OrderView>("GET", `/orders/${summary.id}`, { token: shopper.token });
    if (res.status !== 200) throw new Error(`GET /orders/${summary.id} answered ${res.status}`);
    return res.body;
  });
  const charges = await inBatches(orders, 8, (order) => check.ledger.chargesOf(order.id));
  let refundedAfterCharge = 0;
  orders.forEach((order, i) => {
    problems.push(...chargeProblems(order, charges[i]));
    problems.push(...timelineProblems(order));
    if (order.status === "CANCELLED" && charges[i].some(isCaptured)) refundedAfterCharge++;
  });
  problems.push(...(await stockProblems(check.broker, check.products, orders)));
  problems.push(...(await outboxProblems(check.broker, check.outboxes)));
  return { problems, orders, refundedAfterCharge };
}

/** Polls `settlement` until it finds no problem or `timeoutMs` passes; returns the last one. */
export async function waitForSettlement(
  check: SettlementCheck,
  timeoutMs: number,
): Promise<Settlement> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A read that fails (a node still starting) is one more problem to wait out.
    const result = await settlement(check).catch((err: Error): Settlement => ({
      problems: [`could not check: ${err.message}`],
      orders: [],
      refundedAfterCharge: 0,
    }));
    if (!result.problems.length || Date.now() >= deadline) return result;
    await sleep(1000);
  }
}

const isCaptured = (charge: Charge) => charge.status === "succeeded";

/** What the provider kept of an order's money: captured charges minus refunds. */
export function netCaptured(charges: ChargeWithRefunds[]): number {
  return charges
    .filter(isCaptured)
    .reduce((sum, c) => sum + c.amount - c.refunds.reduce((r, refund) => r + refund.amount, 0), 0);
}

export function chargeProblems(order: OrderView, charges: ChargeWithRefunds[]): string[] {
  // A pending charge may still be captured: nothing can be said before it settles.
  const pending = charges.filter((c) => c.status === "pending");
  if (pending.length) return [`order ${order.id} has a charge still pending`];
  const captured = charges.filter(isCaptured);
  const net = netCaptured(charges);
  if (order.status === "CONFIRMED") {
    const once =
      captured.length === 1 &&
      captured[0].amount === order.total.amount &&
      captured[0].refunds.length === 0;
    return once
      ? []
      : [
          `confirmed order ${order.id} (total ${order.total.amount}) has ${captured.length} captured charge(s) of ${captured.map((c) => c.amount).join(", ") || "nothing"}, net ${net}`,
        ];
  }
  if (captured.length > 1)
    return [`cancelled order ${order.id} was charged ${captured.length} times`];
  return net === 0 ? [] : [`cancelled order ${order.id} kept ${net} captured`];
}

/**
 * A message applied twice shows in the timeline as its id twice, or as a step
 * repeated. Only REFUND_REQUESTED may come twice: when the order is cancelled,
 * and again when a charge it was waiting for succeeds after that.
 */
export function timelineProblems(order: OrderView): string[] {
  const problems: string[] = [];
  const counts = new Map<string, number>();
  for (const { step } of order.timeline) counts.set(step, (counts.get(step) ?? 0) + 1);
  for (const [step, count] of counts)
    if (count > (step === "REFUND_REQUESTED" ? 2 : 1))
      problems.push(`order ${order.id} has ${step} ${count} times`);
  const ids = order.timeline.map((entry) => entry.messageId).filter((id) => id !== null);
  const repeated = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (repeated.length)
    problems.push(
      `order ${order.id} applied message(s) ${[...new Set(repeated)].join(", ")} twice`,
    );
  return problems;
}

export async function stockProblems(
  broker: ServiceBroker,
  products: StockedProduct[],
  orders: OrderView[],
): Promise<string[]> {
  const bought = new Map<string, number>();
  for (const order of orders.filter((o) => o.status === "CONFIRMED"))
    for (const line of order.lines)
      bought.set(line.productId, (bought.get(line.productId) ?? 0) + line.quantity);
  const levels = await broker.call<StockLevel[], object>("inventory.levels", {
    productIds: products.map((p) => p.id),
  });
  const problems: string[] = [];
  for (const product of products) {
    const level = levels.find((l) => l.productId === product.id);
    const expected = product.onHand - (bought.get(product.id) ?? 0);
    if (!level || level.onHand !== expected || level.reserved !== 0)
      problems.push(
        `product ${product.id}: on hand ${level?.onHand} (expected ${expected}), reserved ${level?.reserved}`,
      );
  }
  const status = await broker.call<{ reservations: Record<string, number> }>("inventory.status");
  if (status.reservations.RESERVED)
    problems.push(`${status.reservations.RESERVED} reservation(s) still RESERVED`);
  return problems;
}

export async function outboxProblems(broker: ServiceBroker, services: string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const service of services) {
    const { unpublished } = await broker.call<{ unpublished: number }>(`${service}.outboxStatus`);
    if (unpublished) problems.push(`${service} has ${unpublished} unpublished outbox row(s)`);
  }
  return problems;
}
