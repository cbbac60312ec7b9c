import { randomUUID } from "node:crypto";
import { ServiceBroker } from "moleculer";
import {
  CartDocument,
  DuplicateActiveCartError,
  PendingCartEvent,
} from "../../../services/cart/store";
import { MemoryCartStore } from "../../../services/cart/store/memory-store";

/**
 * The embedded cart store's own guarantees, beyond what the shared store
 * contract suite checks: what it hands out is exactly a CartDocument, and
 * the document's outbox (pending events) is kept, found and trimmed.
 */
const logger = new ServiceBroker({ logger: false }).getLogger("cart-store");

function cart(overrides: Partial<CartDocument> = {}): CartDocument {
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

function event(occurredAt: string): PendingCartEvent {
  return { id: randomUUID(), type: "CartItemAdded", payload: { quantity: 1 }, occurredAt };
}

describe("MemoryCartStore", () => {
  let store: MemoryCartStore;

  beforeEach(async () => {
    store = new MemoryCartStore(logger);
    await store.connect();
  });

  afterEach(() => store.disconnect());

  it("hands back the document it was given, without its own fields", async () => {
    const stored = cart({
      lines: [
        {
          productId: "p",
          quantity: 2,
          seenUnitPrice: { amount: 5, currency: "EUR" },
          addedAt: "x",
        },
      ],
    });
    await store.insert(stored);
    expect(await store.findById(stored.id)).toEqual(stored);
    expect(await store.findActiveByUser(stored.userId!)).toEqual(stored);
    // What it returns is a copy: changing it changes nothing stored.
    (await store.findById(stored.id))!.lines.push(stored.lines[0]);
    expect((await store.findById(stored.id))!.lines).toHaveLength(1);
  });

  it("keeps one active cart per user, and frees the slot when the cart closes", async () => {
    const first = cart();
    await store.insert(first);
    await expect(store.insert(cart({ userId: first.userId }))).rejects.toBeInstanceOf(
      DuplicateActiveCartError,
    );
    expect(await store.replaceIfVersion({ ...first, status: "converted", version: 2 }, 1)).toBe(
      true,
    );
    expect(await store.findActiveByUser(first.userId!)).toBeNull();
    const second = cart({ userId: first.userId });
    await store.insert(second);
    expect((await store.findActiveByUser(first.userId!))?.id).toBe(second.id);
    // Re-opening the closed one would make two.
    await expect(
      store.replaceIfVersion({ ...first, status: "active", version: 3 }, 2),
    ).rejects.toBeInstanceOf(DuplicateActiveCartError);
  });

  it("replaces a document only at the version the writer read", async () => {
    const stored = cart();
    await store.insert(stored);
    expect(await store.replaceIfVersion({ ...stored, version: 2, mergedFrom: ["g1"] }, 1)).toBe(
      true,
    );
    expect(await store.replaceIfVersion({ ...stored, version: 2, mergedFrom: ["g2"] }, 1)).toBe(
      false,
    );
    expect(await store.findById(stored.id)).toMatchObject({ version: 2, mergedFrom: ["g1"] });
  });

  it("expires active guest carts past their expiry, and only those", async () => {
    const now = new Date("2025-03-02T00:00:00.000Z");
    const due = cart({ userId: null, tokenHash: "h", expiresAt: "2025-03-01T23:59:59.000Z" });
    const fresh = cart({ userId: null, tokenHash: "h", expiresAt: "2025-03-03T00:00:00.000Z" });
    const merged = cart({ ...due, id: randomUUID(), status: "merged" });
    for (const c of [due, fresh, merged]) await store.insert(c);

    expect(await store.expireGuestCarts(now, 10)).toEqual([due.id]);
    expect(await store.findById(due.id)).toMatchObject({ status: "expired", version: 2 });
    expect(await store.findById(fresh.id)).toMatchObject({ status: "active", version: 1 });
    expect(await store.findById(merged.id)).toMatchObject({ status: "merged" });
    expect(await store.expireGuestCarts(now, 10)).toEqual([]);
  });

  it("finds carts with events left pending, and trims published ones without a new version", async () => {
    const old = event("2025-03-01T10:00:00.000Z");
    const recent = event("2025-03-01T10:05:00.000Z");
    const stored = cart({ pendingEvents: [old, recent] });
    await store.insert(stored);
    await store.insert(cart({ pendingEvents: [] }));

    const found = await store.findWithPendingEvents(new Date("2025-03-01T10:01:00.000Z"), 10);
    expect(found.map((c) => c.id)).toEqual([stored.id]);
    expect(await store.findWithPendingEvents(new Date("2025-03-01T09:00:00.000Z"), 10)).toEqual([]);

    await store.markEventsPublished(stored.id, [old.id, randomUUID()]);
    expect(await store.findById(stored.id)).toMatchObject({ pendingEvents: [recent], version: 1 });
    await store.markEventsPublished(randomUUID(), [recent.id]);
    expect((await store.findById(stored.id))?.pendingEvents).toEqual([recent]);
  });
});
