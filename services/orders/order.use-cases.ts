import type { OrderStatus } from "../../lib/contracts/orders";
import { AppError } from "../../lib/errors";
import type { MessageOrigin } from "../../lib/messaging/outbox";
import { PageOf, PageRequest, pageWindow } from "../../lib/pagination";
import type { OrderRecord } from "./domain/order";
import { OrderSummary, OrderView, toSummary, toView } from "./domain/order-view";
import type { OrderRepository } from "./order-repository";
import type { ReactionResult, SagaUseCases } from "./saga.use-cases";

/** An order as operators see it: the customer's view plus whose it is. */
export interface InspectedOrder extends OrderView {
  userId: string;
}

/** A line of the operators' search by reference. */
export interface ReferencedOrder extends OrderSummary {
  userId: string;
}

/** More orders than this under one reference are not listed (it has 32 bits). */
export const MAX_ORDERS_PER_REFERENCE = 20;

/**
 * What customers and admins do with placed orders: read their own (another
 * user's order does not exist for them: 404), cancel before shipping, and,
 * for admins, ship and deliver. Changes go through the saga's `react`, so
 * the order aggregate guards them like any message.
 */
export class OrderUseCases {
  constructor(
    private readonly repository: OrderRepository,
    private readonly saga: SagaUseCases,
  ) {}

  async get(userId: string, orderId: string): Promise<OrderView> {
    const found = await this.repository.findOwnOrderWithTimeline(userId, orderId);
    if (!found) throw AppError.notFound("Order");
    return toView(found.order, found.timeline);
  }

  /** The status of the user's order, or undefined when they have no such order. */
  statusOf(userId: string, orderId: string): Promise<OrderStatus | undefined> {
    return this.repository.ownOrderStatus(userId, orderId);
  }

  /** Operators: any order, with its owner, whoever asks (no REST route reaches this). */
  async inspect(orderId: string): Promise<InspectedOrder> {
    const order = await this.repository.findOrder(orderId);
    if (!order) throw AppError.notFound("Order");
    return { ...toView(order, await this.repository.timeline(order.id)), userId: order.userId };
  }

  /**
   * Operators: the orders a customer's short reference (from an email's
   * subject) may mean, newest first, with their owners.
   */
  async findByReference(reference: string): Promise<ReferencedOrder[]> {
    const found = await this.repository.ordersByReference(reference, MAX_ORDERS_PER_REFERENCE);
    return found.map(({ order, items }) => ({ ...toSummary(order, items), userId: order.userId }));
  }

  /** The user's orders, newest first. */
  async list(userId: string, request: PageRequest): Promise<PageOf<OrderSummary>> {
    const { page, pageSize, offset } = pageWindow(request);
    const { orders, total } = await this.repository.listOwnOrders(userId, offset, pageSize);
    return { items: orders.map((o) => toSummary(o.order, o.items)), page, pageSize, total };
  }

  /** The user's order, or 404. */
  async requireOwn(userId: string, orderId: string): Promise<OrderRecord> {
    const order = await this.repository.findOwnOrder(userId, orderId);
    if (!order) throw AppError.notFound("Order");
    return order;
  }

  /** Cancels the user's order before it ships; a cancelled order is answered as it is. */
  async cancel(userId: string, orderId: string, origin: MessageOrigin): Promise<OrderView> {
    const result = await this.saga.react(
      orderId,
      { type: "CancelRequested" },
      { origin, ownerId: userId },
    );
    return this.answer(result);
  }

  /** Admins: SHIPPED (with a tracking number) from CONFIRMED, DELIVERED from SHIPPED. */
  async setStatus(
    orderId: string,
    status: OrderStatus,
    trackingNumber: string | undefined,
    origin: MessageOrigin,
  ): Promise<OrderView> {
    const result = await this.saga.react(
      orderId,
      { type: "StatusChangeRequested", status, trackingNumber },
      { origin },
    );
    return this.answer(result);
  }

  private async answer(result: ReactionResult): Promise<OrderView> {
    switch (result.kind) {
      case "changed":
      case "unchanged":
        return toView(result.order, await this.repository.timeline(result.order.id));
      case "refused":
        throw result.error;
      case "unknown":
        throw AppError.notFound("Order");
      case "duplicate":
        throw new Error("a request cannot be a duplicate message");
    }
  }
}
