import { randomUUID } from "node:crypto";
import type { ProductSnapshot } from "../../lib/contracts/catalog";
import type { CartCheckoutLines } from "../../lib/contracts/cart";
import type { PaymentMethodInput, ShippingAddress } from "../../lib/contracts/orders";
import { AppError, ErrorDetail } from "../../lib/errors";
import type { MessageOrigin } from "../../lib/messaging/outbox";
import type { DecisionWriter } from "./decision-writer";
import {
  LineField,
  mergeLines,
  normalizeAddress,
  priceLines,
  RequestedLine,
} from "./domain/checkout";
import { OrderRecord, placeOrder } from "./domain/order";
import { OrderView, toView } from "./domain/order-view";
import { IdempotencyKeys, requestHash } from "./idempotency";
import type { Clock, Transactional } from "./use-case-support";

/**
 * Checkout: POST /orders. Reads what the order needs from the services that
 * own it (the cart's quantities, the catalog's prices, the user's address),
 * then in one transaction writes the order PENDING with its lines, the saga
 * row, the first timeline steps, OrderCreated and ReserveStock in the outbox,
 * and completes the idempotency key with the response. The saga goes on from
 * the messages (saga.use-cases.ts).
 */
export interface CheckoutRequest {
  cartId?: string;
  lines?: RequestedLine[];
  shippingAddress?: ShippingAddress;
  shippingAddressId?: string;
  paymentMethod: PaymentMethodInput;
}

/** What checkout reads from other services, on behalf of the caller. */
export interface CheckoutReaders {
  cartLines(cartId: string, userId: string): Promise<CartCheckoutLines>;
  products(ids: string[]): Promise<ProductSnapshot[]>;
  /** The user's saved address, or null when they have none with that id. */
  address(userId: string, addressId: string): Promise<ShippingAddress | null>;
}

export interface CheckoutResponse {
  status: number;
  order: OrderView;
}

export interface CheckoutDeps {
  database: Transactional;
  writer: DecisionWriter;
  keys: IdempotencyKeys;
  now?: Clock;
}

export class CheckoutUseCase {
  private readonly now: Clock;

  constructor(private readonly deps: CheckoutDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Places the order once per idempotency key; a repeat answers what the first one did. */
  async placeOrder(
    userId: string,
    key: string,
    request: CheckoutRequest,
    readers: CheckoutReaders,
    origin: MessageOrigin,
  ): Promise<CheckoutResponse> {
    checkRequest(request);
    const claim = await this.deps.keys.claim(userId, key, requestHash(request));
    if (claim.kind === "replay")
      return { status: claim.response.status, order: claim.response.body as OrderView };
    try {
      const order = await this.newOrder(userId, request, readers);
      const decision = placeOrder(order);
      return await this.deps.database.transaction(async (tx) => {
        const timeline = await this.deps.writer.create(
          tx,
          decision,
          origin,
          request.paymentMethod.type === "card" ? (request.paymentMethod.token ?? null) : null,
        );
        const response = { status: 201, order: toView(decision.order, timeline) };
        await this.deps.keys.complete(tx, userId, key, claim.token, {
          status: response.status,
          body: response.order,
          orderId: order.id,
        });
        return response;
      });
    } catch (err) {
      // If even this fails, the claim lapses after its lease and a retry takes the key over.
      await this.deps.keys.release(userId, key, claim.token).catch(() => undefined);
      throw err;
    }
  }

  /** The order as priced now: PENDING, version 1. */
  private async newOrder(
    userId: string,
    request: CheckoutRequest,
    readers: CheckoutReaders,
  ): Promise<OrderRecord> {
    const { requested, field, cartId } = await this.requestedLines(userId, request, readers);
    const products = await readers.products(requested.map((l) => l.productId));
    const priced = priceLines(requested, products, field);
    const shippingAddress = await this.shippingAddress(userId, request, readers);
    const now = this.now();
    return {
      id: randomUUID(),
      userId,
      status: "PENDING",
      cancelReason: null,
      currency: priced.currency,
      subtotal: priced.subtotal,
      // No shipping fees or taxes yet: the total is the sum of the lines.
      total: priced.subtotal,
      lines: priced.lines,
      shippingAddress,
      paymentMethod: request.paymentMethod.type,
      payment: null,
      cartId,
      trackingNumber: null,
      paymentDeadline: null,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
  }

  private async requestedLines(
    userId: string,
    request: CheckoutRequest,
    readers: CheckoutReaders,
  ): Promise<{ requested: RequestedLine[]; field: LineField; cartId: string | null }> {
    if (request.cartId) {
      const cart = await readers.cartLines(request.cartId, userId);
      const field: LineField = () => "cartId";
      return { requested: mergeLines(cart.lines, field), field, cartId: request.cartId };
    }
    const lines = request.lines!;
    const firstIndex = new Map<string, number>();
    lines.forEach((l, i) => {
      const id = l.productId.toLowerCase();
      if (!firstIndex.has(id)) firstIndex.set(id, i);
    });
    const field: LineField = (productId) => `lines[${firstIndex.get(productId) ?? 0}].productId`;
    return { requested: mergeLines(lines, field), field, cartId: null };
  }

  private async shippingAddress(
    userId: string,
    request: CheckoutRequest,
    readers: CheckoutReaders,
  ): Promise<ShippingAddress> {
    if (request.shippingAddress) return normalizeAddress(request.shippingAddress);
    const saved = await readers.address(userId, request.shippingAddressId!);
    if (!saved)
      throw AppError.validation("No such address in your address book", [
        { field: "shippingAddressId", message: "is not one of your addresses" },
      ]);
    return normalizeAddress(saved);
  }
}

/** Exactly one source of lines and one of address; a card needs its token. */
function checkRequest(request: CheckoutRequest): void {
  const problems: ErrorDetail[] = [];
  if (request.cartId && request.lines)
    problems.push({ field: "cartId", message: "give either cartId or lines, not both" });
  if (!request.cartId && !request.lines)
    problems.push({ field: "lines", message: "give either cartId or lines" });
  if (request.shippingAddress && request.shippingAddressId)
    problems.push({
      field: "shippingAddressId",
      message: "give either shippingAddress or shippingAddressId, not both",
    });
  if (!request.shippingAddress && !request.shippingAddressId)
    problems.push({
      field: "shippingAddress",
      message: "give either shippingAddress or shippingAddressId",
    });
  if (request.paymentMethod.type === "card" && !request.paymentMethod.token)
    problems.push({ field: "paymentMethod.token", message: "is required to pay by card" });
  if (problems.length) throw AppError.validation("Invalid order request", problems);
}
