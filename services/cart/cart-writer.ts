import { KeyedSerializer } from "../../lib/concurrency/keyed-serializer";
import { deepCopy } from "../../lib/deep-copy";
import { AppError } from "../../lib/errors";
import type { MessageLineage } from "../../lib/messaging/outbox";
import type { CartCache } from "./cart-cache";
import { CartEvent, CartEventPublisher, pendingEvent } from "./cart-events";
import type { CartDocument, CartStore, PendingCartEvent } from "./store";

/**
 * Every change of a stored cart goes through here: read the document from
 * the store, apply the change to it, and write it back only if nobody wrote
 * in between (`replaceIfVersion`). A lost race reloads and applies the change
 * again to what the winner wrote, so concurrent changes all land and none is
 * half-applied; after a bounded number of attempts, with a short jittered
 * pause between them, the caller gets a 409.
 *
 * Changes of one cart made on this node are queued one behind the other
 * first, so a burst of requests (50 parallel adds) does not turn into 50
 * rounds of lost races; the version check still guards against other nodes.
 * The caller's own read of the store is the first attempt's version when
 * nothing is queued ahead of it.
 *
 * The write also carries the change's events (the document's outbox) and,
 * for a guest cart, pushes its expiry back. Once stored, the cached copy is
 * dropped and the events are published.
 */

/** What a change makes of the current document; null when there is nothing to change. */
export type CartChange = (current: CartDocument) => ChangeResult | null;

export interface ChangeResult {
  /** The document as it should be (version, updatedAt and outbox are the writer's). */
  cart: CartDocument;
  events: CartEvent[];
}

export interface WriteOutcome {
  cart: CartDocument;
  /** False when the change found nothing to do. */
  written: boolean;
}

export interface RetryPolicy {
  attempts: number;
  /** Upper bound of the first pause; it doubles per attempt up to maxDelayMs (full jitter). */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 12, baseDelayMs: 4, maxDelayMs: 200 };

export interface CartWriterOptions {
  store: CartStore;
  cache: CartCache;
  publisher: CartEventPublisher;
  /** CART_GUEST_TTL_SEC in milliseconds. */
  guestTtlMs: number;
  retry?: RetryPolicy;
  now?: () => Date;
}

export class CartWriter {
  private readonly retry: RetryPolicy;
  private readonly now: () => Date;
  private readonly local = new KeyedSerializer();

  constructor(private readonly opts: CartWriterOptions) {
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.now = opts.now ?? (() => new Date());
  }

  /**
   * `read` is the document as the caller just read it from the store: the
   * first attempt starts from it instead of reading again, unless another
   * change of the cart on this node is ahead of this one (it would be stale).
   */
  update(
    cartId: string,
    change: CartChange,
    lineage: MessageLineage,
    read?: CartDocument,
  ): Promise<WriteOutcome> {
    const first = read && !this.local.has(cartId) ? read : undefined;
    return this.local.run(cartId, () => this.write(cartId, change, lineage, first));
  }

  private async write(
    cartId: string,
    change: CartChange,
    lineage: MessageLineage,
    first: CartDocument | undefined,
  ): Promise<WriteOutcome> {
    const { store } = this.opts;
    for (let attempt = 1; ; attempt++) {
      const current = attempt === 1 && first ? first : await store.findById(cartId);
      if (!current) throw AppError.notFound("Cart");
      // The change gets its own copy: one that returns null must leave `current` as read.
      const result = change(deepCopy(current));
      if (!result) return { cart: current, written: false };
      const at = this.now();
      const events = result.events.map((e) => pendingEvent(e, lineage, at.toISOString()));
      const next = this.nextVersion(current, result.cart, events, at);
      if (await store.replaceIfVersion(next, current.version)) {
        await this.opts.cache.drop(cartId);
        this.opts.publisher.publishSoon(cartId, events);
        return { cart: next, written: true };
      }
      if (attempt >= this.retry.attempts)
        throw AppError.conflict("The cart is being changed by another request; try again");
      await pause(this.delayMs(attempt));
    }
  }

  private nextVersion(
    current: CartDocument,
    changed: CartDocument,
    events: PendingCartEvent[],
    at: Date,
  ): CartDocument {
    const activeGuest = changed.userId === null && changed.status === "active";
    return {
      ...changed,
      id: current.id,
      version: current.version + 1,
      updatedAt: at.toISOString(),
      expiresAt: activeGuest
        ? new Date(at.getTime() + this.opts.guestTtlMs).toISOString()
        : changed.expiresAt,
      pendingEvents: [...current.pendingEvents, ...events],
    };
  }

  private delayMs(attempt: number): number {
    const { baseDelayMs, maxDelayMs } = this.retry;
    return Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
