import { randomUUID } from "node:crypto";
import { ServiceBroker } from "moleculer";
import { MemoryKeyValueStore } from "../../../lib/infra/kv/memory";
import { EventTypes } from "../../../lib/messaging/topics";
import { CartCache } from "../../../services/cart/cart-cache";
import { CartEventPublisher } from "../../../services/cart/cart-events";
import { CartWriter, RetryPolicy } from "../../../services/cart/cart-writer";
import type { CartDocument, PendingCartEvent } from "../../../services/cart/store";
import { MemoryCartStore } from "../../../services/cart/store/memory-store";

/**
 * The optimistic write path over the embedded store: concurrent changes
 * retry until each lands whole, a cart that keeps changing under a writer
 * ends in a 409, and a change's events travel in its write and leave the
 * document once published (or wait there for the sweep).
 */
const logger = new ServiceBroker({ logger: false }).getLogger("cart");
const fastRetry: RetryPolicy = { attempts: 60, baseDelayMs: 1, maxDelayMs: 5 };
const GUEST_TTL_MS = 60_000;

/** Counts the writes that lost their race. */
class CountingStore extends MemoryCartStore {
  lost = 0;
  override async replaceIfVersion(next: CartDocument, expected: number): Promise<boolean> {
    const written = await super.replaceIfVersion(next, expected);
    if (!written) this.lost++;
    return written;
  }
}

/** Another writer always gets in first. */
class AlwaysBeatenStore extends MemoryCartStore {
  attempts = 0;
  override async replaceIfVersion(): Promise<boolean> {
    this.attempts++;
    return false;
  }
}

function newCart(overrides: Partial<CartDocument> = {}): CartDocument {
  return {
    id: randomUUID(),
    userId: randomUUID(),
    tokenHash: null,
    status: "active",
    lines: [],
    version: 1,
    createdAt: "2025-03-01T10:00:00.000Z",
    updatedAt: "2025-03-01T10:00:00.000Z",
    expiresAt: null,
    orderId: null,
    mergedInto: null,
    mergedFrom: [],
    pendingEvents: [],
    ...overrides,
  };
}

describe("CartWriter", () => {
  let store: CountingStore;
  let cache: CartCache;
  let sent: { cartId: string; event: PendingCartEvent }[];
  let failSends: boolean;
  let publisher: CartEventPublisher;

  async function setUp(s: MemoryCartStore = new CountingStore(logger)) {
    store = s as CountingStore;
    await store.connect();
    cache = new CartCache(new MemoryKeyValueStore(), 60_000, logger);
    sent = [];
    failSends = false;
    publisher = new CartEventPublisher(
      store,
      async (cartId, event) => {
        if (failSends) throw new Error("channel down");
        sent.push({ cartId, event });
      },
      logger,
    );
    return new CartWriter({ store, cache, publisher, guestTtlMs: GUEST_TTL_MS, retry: fastRetry });
  }

  afterEach(() => store.disconnect());

  const addLine = (productId: string) => (current: CartDocument) => ({
    cart: {
      ...current,
      lines: [
        ...current.lines,
        {
          productId,
          quantity: 1,
          seenUnitPrice: { amount: 100, currency: "EUR" },
          addedAt: "2025-03-01T10:00:00.000Z",
        },
      ],
    },
    events: [
      {
        type: EventTypes.CartItemAdded,
        payload: { cartId: current.id, userId: current.userId, productId, quantity: 1 },
      },
    ],
  });

  it("lands every one of many concurrent changes, re-applying the ones that lost a race", async () => {
    const writer = await setUp();
    // A second node's writer on the same store: the local queue cannot order them.
    const otherNode = new CartWriter({
      store,
      cache,
      publisher,
      guestTtlMs: GUEST_TTL_MS,
      retry: fastRetry,
    });
    const cart = newCart();
    await store.insert(cart);
    const products = Array.from({ length: 50 }, (_, i) => `p${i}`);

    await Promise.all(
      products.map((p, i) => (i % 2 ? otherNode : writer).update(cart.id, addLine(p), {})),
    );

    const stored = (await store.findById(cart.id))!;
    expect(stored.lines.map((l) => l.productId).sort()).toEqual([...products].sort());
    expect(stored.version).toBe(1 + products.length);
    // The two nodes did collide: the retries are what kept every change.
    expect(store.lost).toBeGreaterThan(0);
  });

  it("starts from the caller's own read; a read made stale meanwhile loses once and is re-applied", async () => {
    const writer = await setUp();
    const cart = newCart();
    await store.insert(cart);
    const reads = jest.spyOn(store, "findById");

    // The caller's read is the version: no second read of the store.
    const read = (await store.findById(cart.id))!;
    reads.mockClear();
    await writer.update(cart.id, addLine("p1"), {}, read);
    expect(reads).not.toHaveBeenCalled();
    expect(store.lost).toBe(0);

    // The same read again is stale now (version 2 is stored): it loses its race once,
    // the change is applied to what was written, and nothing is lost.
    await new Promise((resolve) => setImmediate(resolve)); // the first change has left the queue
    await writer.update(cart.id, addLine("p2"), {}, read);
    expect(store.lost).toBe(1);
    const stored = (await store.findById(cart.id))!;
    expect(stored.lines.map((l) => l.productId)).toEqual(["p1", "p2"]);
    expect(stored.version).toBe(3);

    // Queued behind another change of the cart on this node, a read is not used at all.
    const before = (await store.findById(cart.id))!;
    reads.mockClear();
    await Promise.all([
      writer.update(cart.id, addLine("p3"), {}, before),
      writer.update(cart.id, addLine("p4"), {}, before),
    ]);
    expect(store.lost).toBe(1);
    expect(reads).toHaveBeenCalledTimes(1);
    expect((await store.findById(cart.id))!.lines.map((l) => l.productId)).toEqual([
      "p1",
      "p2",
      "p3",
      "p4",
    ]);
  });

  it("leaves the caller's read as it was when a change finds nothing to do", async () => {
    const writer = await setUp();
    const cart = newCart();
    await store.insert(cart);
    const read = (await store.findById(cart.id))!;
    const outcome = await writer.update(
      cart.id,
      (current) => {
        current.lines.push(addLine("p")(current).cart.lines[0]); // a change that misbehaves
        return null;
      },
      {},
      read,
    );
    expect(outcome).toEqual({ cart, written: false });
    expect(read.lines).toEqual([]);
  });

  it("answers 409 after its bounded attempts when the cart keeps changing underneath", async () => {
    const beaten = new AlwaysBeatenStore(logger);
    const writer = await setUp(beaten);
    const cart = newCart();
    await beaten.insert(cart);

    await expect(writer.update(cart.id, addLine("p"), {})).rejects.toMatchObject({
      code: 409,
      type: "CONFLICT",
    });
    expect(beaten.attempts).toBe(fastRetry.attempts);
  });

  it("writes nothing when the change finds nothing to do, and 404s an unknown cart", async () => {
    const writer = await setUp();
    const cart = newCart();
    await store.insert(cart);
    expect(await writer.update(cart.id, () => null, {})).toEqual({ cart, written: false });
    expect((await store.findById(cart.id))!.version).toBe(1);
    await expect(writer.update(randomUUID(), addLine("p"), {})).rejects.toMatchObject({
      code: 404,
    });
  });

  it("stores a change's events with it, publishes them, then removes them from the cart", async () => {
    const writer = await setUp();
    const cart = newCart();
    await store.insert(cart);
    await cache.fill(cart);

    const { cart: written } = await writer.update(cart.id, addLine("p1"), {
      correlationId: "req-1",
    });
    expect(written.pendingEvents).toEqual([
      expect.objectContaining({ type: EventTypes.CartItemAdded, correlationId: "req-1" }),
    ]);
    // The cached copy went with the write.
    expect(await cache.get(cart.id)).toBeNull();
    await publisher.drain();
    expect(sent).toEqual([{ cartId: cart.id, event: written.pendingEvents[0] }]);
    expect((await store.findById(cart.id))!.pendingEvents).toEqual([]);
  });

  it("keeps events whose publishing failed, and the sweep sends them again with the same ids", async () => {
    const writer = await setUp();
    const cart = newCart();
    await store.insert(cart);
    failSends = true;
    const { cart: written } = await writer.update(cart.id, addLine("p1"), {});
    await publisher.drain();
    expect(sent).toEqual([]);
    expect((await store.findById(cart.id))!.pendingEvents).toEqual(written.pendingEvents);

    failSends = false;
    // Events younger than the sweep's age are left to their writer.
    await publisher.sweep(new Date(Date.parse(written.pendingEvents[0].occurredAt) - 1));
    expect(sent).toEqual([]);
    await publisher.sweep(new Date(Date.now() + 1000));
    expect(sent.map((s) => s.event.id)).toEqual([written.pendingEvents[0].id]);
    expect((await store.findById(cart.id))!.pendingEvents).toEqual([]);
  });

  it("pushes an active guest cart's expiry back on every write", async () => {
    const writer = await setUp();
    const guest = newCart({ userId: null, tokenHash: "h", expiresAt: "2025-03-01T10:00:01.000Z" });
    await store.insert(guest);
    const before = Date.now();
    const { cart } = await writer.update(guest.id, addLine("p1"), {});
    expect(Date.parse(cart.expiresAt!)).toBeGreaterThanOrEqual(before + GUEST_TTL_MS);
    expect((await store.findById(guest.id))!.expiresAt).toBe(cart.expiresAt);
  });
});
