import type { OrderStatus } from "../../lib/contracts/orders";
import type { BusinessMetrics } from "../../lib/observability/metrics";
import type { OrderRecord } from "./domain/order";

export type OrderMetrics = Pick<
  BusinessMetrics,
  "orderCreated" | "orderConfirmed" | "orderCancelled" | "checkoutSagaEnded"
>;

/** The states in which the checkout saga is still running (reserve stock, then charge). */
const SAGA_STATES: readonly OrderStatus[] = ["PENDING", "AWAITING_PAYMENT"];

/**
 * Counts what a committed decision did to an order: placed (no status
 * before), confirmed, or cancelled with its reason. The saga's duration is
 * observed when it ends, from the order's creation to CONFIRMED or CANCELLED;
 * a later cancel of a confirmed order counts as a cancellation only.
 */
export function countDecision(
  metrics: OrderMetrics,
  before: OrderStatus | null,
  after: Pick<OrderRecord, "status" | "cancelReason" | "createdAt" | "updatedAt">,
): void {
  if (before === null) return metrics.orderCreated();
  if (before === after.status) return;
  const sagaEnds = SAGA_STATES.includes(before);
  const sagaMs = after.updatedAt - after.createdAt;
  if (after.status === "CONFIRMED") {
    metrics.orderConfirmed();
    if (sagaEnds) metrics.checkoutSagaEnded("confirmed", sagaMs);
  } else if (after.status === "CANCELLED") {
    metrics.orderCancelled(after.cancelReason ?? "UNKNOWN");
    if (sagaEnds) metrics.checkoutSagaEnded("cancelled", sagaMs);
  }
}
