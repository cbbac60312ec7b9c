import { randomUUID } from "node:crypto";
import type {
  CartClearedPayload,
  CartConvertedPayload,
  CartItemChangedPayload,
  CartMergedPayload,
} from "../../lib/contracts/cart";
import {
  createEnvelope,
  headersFor,
  MessageEnvelope,
  MessageHeaders,
} from "../../lib/messaging/envelope";
import type { MessageLineage } from "../../lib/messaging/outbox";
import { EventTypes } from "../../lib/messaging/topics";
import type { CartStore, PendingCartEvent } from "./store";

/**
 * cart.events through the cart document's own outbox: a write appends its
 * events to the document's `pendingEvents` in the same conditional replace
 * that makes the change, the writer publishes them right after, and removes
 * them once the channel took them. What a crash or a failed publish leaves
 * behind, the sweeper republishes with the same ids (consumers de-duplicate
 * by message id), so a stored change always gets its events out at least
 * once and a change that lost its race never does.
 */

export type CartEvent =
  | { type: typeof EventTypes.CartItemAdded; payload: CartItemChangedPayload }
  | { type: typeof EventTypes.CartItemRemoved; payload: CartItemChangedPayload }
  | { type: typeof EventTypes.CartMerged; payload: CartMergedPayload }
  | { type: typeof EventTypes.CartCleared; payload: CartClearedPayload }
  | { type: typeof EventTypes.CartConverted; payload: CartConvertedPayload };

/** A new event as the document stores it; its id is the envelope id it will travel with. */
export function pendingEvent(
  event: CartEvent,
  lineage: MessageLineage,
  occurredAt: string,
): PendingCartEvent {
  const pending: PendingCartEvent = { id: randomUUID(), ...event, occurredAt };
  // Absent rather than undefined: a document store keeps what it is given.
  if (lineage.correlationId) pending.correlationId = lineage.correlationId;
  if (lineage.causationId) pending.causationId = lineage.causationId;
  // The request's span, so the consumers' spans join the same trace.
  if (lineage.trace) pending.trace = { ...lineage.trace };
  return pending;
}

/** The envelope and headers a pending event travels with (the same every time it is sent). */
export function toMessage(
  cartId: string,
  event: PendingCartEvent,
  source: string,
): { envelope: MessageEnvelope; headers: MessageHeaders } {
  const envelope = createEnvelope({
    id: event.id,
    type: event.type,
    aggregateId: cartId,
    payload: event.payload,
    occurredAt: event.occurredAt,
  });
  const headers = headersFor(envelope, {
    source,
    correlationId: event.correlationId,
    causationId: event.causationId,
    trace: event.trace,
  });
  return { envelope, headers };
}

export type SendCartEvent = (cartId: string, event: PendingCartEvent) => Promise<void>;

interface Log {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
}

/** Publishes pending cart events in order, then removes them from their document. */
export class CartEventPublisher {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly store: CartStore,
    private readonly send: SendCartEvent,
    private readonly log: Log,
  ) {}

  /**
   * Starts publishing a write's events without making its caller wait: the
   * in-process channel delivers inside `send`, and a shopper's request must
   * not wait for consumers.
   */
  publishSoon(cartId: string, events: readonly PendingCartEvent[]): void {
    if (!events.length) return;
    const running = this.publish(cartId, events).finally(() => this.inFlight.delete(running));
    this.inFlight.add(running);
  }

  /** Sends the events in order; stops at the first failure (the sweeper retries from there). */
  async publish(cartId: string, events: readonly PendingCartEvent[]): Promise<void> {
    const sent: string[] = [];
    try {
      for (const event of events) {
        await this.send(cartId, event);
        sent.push(event.id);
      }
    } catch (err) {
      this.log.warn(
        `Publishing cart.events of cart ${cartId} failed; the sweeper will retry`,
        (err as Error).message,
      );
    }
    try {
      await this.store.markEventsPublished(cartId, sent);
    } catch (err) {
      // They go out again with the same ids; consumers drop the copies.
      this.log.warn(
        `Marking cart.events of cart ${cartId} published failed`,
        (err as Error).message,
      );
    }
  }

  /** Republishes events older than `olderThan` that are still pending; resolves with how many carts. */
  async sweep(olderThan: Date, batch = 100): Promise<number> {
    const carts = await this.store.findWithPendingEvents(olderThan, batch);
    const cutoff = olderThan.toISOString();
    for (const cart of carts) {
      // Younger events are still in their writer's hands.
      await this.publish(
        cart.id,
        cart.pendingEvents.filter((event) => event.occurredAt < cutoff),
      );
    }
    if (carts.length) this.log.info(`Republished pending cart.events of ${carts.length} cart(s)`);
    return carts.length;
  }

  /** Waits for the publishing in progress (before the store closes). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }
}
