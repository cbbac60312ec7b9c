import { randomUUID } from "node:crypto";
import type { Logger } from "moleculer";
import mongoose from "mongoose";
import type { Money } from "../../lib/contracts/catalog";
import {
  type CartDocument,
  type CartStore,
  DuplicateActiveCartError,
  type PendingCartEvent,
  type StoredCartLine,
} from "../../services/cart/store";
import { MemoryCartStore } from "../../services/cart/store/memory-store";
import { MongooseCartStore } from "../../services/cart/store/mongoose-store";
import { startMongoStandin } from "../helpers/mongo-standin";
import { uniqueName } from "../helpers/servers";

/**
 * The cart store port's contract, one suite over every adapter:
 *  - the memory store (moleculer-db memory adapter), always;
 *  - the Mongoose store against the MongoDB wire-protocol stand-in, always:
 *    the official driver and Mongoose send their real commands over TCP;
 *  - the Mongoose store against a real MongoDB when TEST_MONGO_URL is set
 *    (`npm run test:infra`, the Compose stack). No MongoDB can be installed
 *    on our machines or on CI, so unlike MySQL or Redis its absence is never
 *    an error; the variant is simply not in the list.
 * Every case starts from an empty store (a new database on MongoDB, dropped
 * afterwards), so the sweeps see only the case's own carts.
 */

const mongoUrl = process.env.TEST_MONGO_URL || undefined;
const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {} };
const logger = silent as unknown as Logger;

interface Target {
  name: string;
  kind: CartStore["kind"];
  /** Starts what the stores need (a server), once per suite. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A new, not yet connected store over empty data. */
  newStore(): CartStore;
  /** Removes what the stores left behind (after they disconnected). */
  cleanup(): Promise<void>;
}

const memoryTarget: Target = {
  name: "memory",
  kind: "memory",
  start: async () => {},
  stop: async () => {},
  newStore: () => new MemoryCartStore(logger),
  cleanup: async () => {},
};

/** The Mongoose store against a server; each store gets a database of its own. */
function mongoTarget(
  name: string,
  startServer: () => Promise<{ url: string; stop(): Promise<void> }>,
): Target & { newUrl(): string } {
  let server: { url: string; stop(): Promise<void> } | undefined;
  let used: string[] = [];
  const target = {
    name,
    kind: "mongodb" as const,
    start: async () => {
      server = await startServer();
    },
    stop: async () => server?.stop(),
    newUrl() {
      const url = withDatabase(server!.url, uniqueName("cart_contract"));
      used.push(url);
      return url;
    },
    newStore: () => new MongooseCartStore(target.newUrl(), logger),
    cleanup: async () => {
      for (const url of used) {
        const client = new mongoose.mongo.MongoClient(url, { serverSelectionTimeoutMS: 5000 });
        try {
          await client.db().dropDatabase();
        } finally {
          await client.close();
        }
      }
      used = [];
    },
  };
  return target;
}

/** The same server and options, another database; credentials keep authenticating where they did. */
function withDatabase(url: string, database: string): string {
  const [address, query = ""] = url.split("?", 2);
  const pathStart = address.indexOf("/", address.indexOf("//") + 2);
  const hosts = pathStart === -1 ? address : address.slice(0, pathStart);
  const params = new URLSearchParams(query);
  if (hosts.includes("@") && !params.has("authSource"))
    params.set("authSource", (pathStart === -1 ? "" : address.slice(pathStart + 1)) || "admin");
  const options = params.toString();
  return `${hosts}/${database}${options ? `?${options}` : ""}`;
}

const mongoTargets = [
  mongoTarget("mongodb via wire-protocol stand-in", startMongoStandin),
  ...(mongoUrl
    ? [
        mongoTarget("mongodb (TEST_MONGO_URL)", async () => ({
          url: mongoUrl,
          stop: async () => {},
        })),
      ]
    : []),
];
const targets: Target[] = [memoryTarget, ...mongoTargets];

// ---- Fixtures: carts as the cart service writes them. ----

const iso = (ms: number) => new Date(ms).toISOString();
const MINUTE = 60_000;
const usd = (amount: number): Money => ({ amount, currency: "USD" });

function line(productId: string, quantity = 1, amount = 1999): StoredCartLine {
  return { productId, quantity, seenUnitPrice: usd(amount), addedAt: iso(Date.now()) };
}

function pendingEvent(occurredAtMs: number, extra: Partial<PendingCartEvent> = {}) {
  return {
    id: randomUUID(),
    type: "CartItemChanged",
    payload: { quantity: 1 },
    occurredAt: iso(occurredAtMs),
    ...extra,
  } satisfies PendingCartEvent;
}

function guestCart(overrides: Partial<CartDocument> = {}): CartDocument {
  const now = Date.now();
  return {
    id: randomUUID(),
    userId: null,
    tokenHash: "a".repeat(64),
    status: "active",
    lines: [],
    version: 1,
    createdAt: iso(now),
    updatedAt: iso(now),
    expiresAt: iso(now + 24 * 60 * MINUTE),
    orderId: null,
    mergedInto: null,
    mergedFrom: [],
    pendingEvents: [],
    ...overrides,
  };
}

function userCart(userId: string, overrides: Partial<CartDocument> = {}): CartDocument {
  return guestCart({ userId, tokenHash: null, expiresAt: null, ...overrides });
}

/** The next version of a cart, as a writer that read `cart` would write it. */
const nextOf = (cart: CartDocument, change: Partial<CartDocument> = {}): CartDocument => ({
  ...cart,
  ...change,
  version: cart.version + 1,
  updatedAt: iso(Date.now()),
});

/**
 * The port's read–modify–write: reload and try again whenever another write
 * came first. Bounded, so an adapter that never lets a write through fails
 * the case instead of hanging it.
 */
async function updateCart(
  store: CartStore,
  id: string,
  change: (cart: CartDocument) => Partial<CartDocument>,
): Promise<CartDocument> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const current = await store.findById(id);
    if (!current) throw new Error(`cart ${id} is gone`);
    const next = nextOf(current, change(current));
    if (await store.replaceIfVersion(next, current.version)) return next;
  }
  throw new Error(`cart ${id}: no write got through in 1000 attempts`);
}

describe.each(targets)("cart store contract ($name)", (target) => {
  let store: CartStore;

  beforeAll(() => target.start());
  afterAll(() => target.stop());

  beforeEach(async () => {
    store = target.newStore();
    await store.connect();
  });

  afterEach(async () => {
    await store.disconnect();
    await target.cleanup();
  });

  it("names its adapter and answers ping", async () => {
    expect(store.kind).toBe(target.kind);
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it("stores a cart and finds it by id; an unknown id is null", async () => {
    const cart = guestCart({ lines: [line("p1", 2)] });
    await store.insert(cart);

    expect(await store.findById(cart.id)).toStrictEqual(cart);
    expect(await store.findById(randomUUID())).toBeNull();
  });

  it("round-trips every field: integer money, nulls, absent optional fields, event payloads", async () => {
    const occurred = Date.now() - 5 * MINUTE;
    const withEverything = userCart("user-round-trip", {
      status: "converted",
      lines: [
        line("p1", 3, 129_999),
        { ...line("p2", 1, 5), seenUnitPrice: { amount: 0, currency: "EUR" } },
      ],
      version: 7,
      orderId: randomUUID(),
      mergedFrom: [randomUUID(), randomUUID()],
      pendingEvents: [
        pendingEvent(occurred, {
          type: "CartConverted",
          payload: {
            cartId: "c",
            lines: [{ productId: "p1", quantity: 3 }],
            total: usd(389_997),
            note: null,
            extra: {},
          },
          correlationId: "req-1",
          causationId: "msg-1",
        }),
        pendingEvent(occurred + 1),
      ],
    });
    const bareGuest = guestCart({ tokenHash: "b".repeat(64) });
    const merged = guestCart({ status: "merged", mergedInto: withEverything.id });
    for (const cart of [withEverything, bareGuest, merged]) await store.insert(cart);

    const read = await store.findById(withEverything.id);
    expect(read).toStrictEqual(withEverything);
    for (const l of read!.lines) expect(Number.isInteger(l.seenUnitPrice.amount)).toBe(true);
    expect(read!.pendingEvents[1]).not.toHaveProperty("correlationId");
    expect(read!.pendingEvents[1]).not.toHaveProperty("causationId");
    expect(await store.findById(bareGuest.id)).toStrictEqual(bareGuest);
    expect(await store.findById(merged.id)).toStrictEqual(merged);
  });

  describe("one active cart per user", () => {
    it("rejects a second active cart for the same user and keeps the first", async () => {
      const first = userCart("user-a", { lines: [line("p1")] });
      await store.insert(first);

      await expect(store.insert(userCart("user-a"))).rejects.toBeInstanceOf(
        DuplicateActiveCartError,
      );
      expect(await store.findActiveByUser("user-a")).toStrictEqual(first);
      // Other users and guests are not affected.
      await store.insert(userCart("user-b"));
      await store.insert(guestCart());
      await store.insert(guestCart());
    });

    it("lets a user with converted, merged or expired carts open a new active one", async () => {
      for (const status of ["converted", "merged", "expired"] as const)
        await store.insert(userCart("user-c", { status }));
      expect(await store.findActiveByUser("user-c")).toBeNull();

      const active = userCart("user-c");
      await store.insert(active);
      expect(await store.findActiveByUser("user-c")).toStrictEqual(active);
    });

    it("frees the slot when the active cart is closed, and guards it on replace too", async () => {
      const old = userCart("user-d");
      await store.insert(old);
      const converted = nextOf(old, { status: "converted", orderId: randomUUID() });
      expect(await store.replaceIfVersion(converted, old.version)).toBe(true);

      const fresh = userCart("user-d");
      await store.insert(fresh);
      expect(await store.findActiveByUser("user-d")).toStrictEqual(fresh);

      // Reopening the old cart would make two active carts.
      await expect(
        store.replaceIfVersion(nextOf(converted, { status: "active" }), converted.version),
      ).rejects.toBeInstanceOf(DuplicateActiveCartError);
      expect(await store.findById(old.id)).toStrictEqual(converted);
    });
  });

  describe("replaceIfVersion", () => {
    it("replaces the document when the version matches", async () => {
      const cart = guestCart();
      await store.insert(cart);
      const next = nextOf(cart, { lines: [line("p1", 2)] });

      expect(await store.replaceIfVersion(next, cart.version)).toBe(true);
      expect(await store.findById(cart.id)).toStrictEqual(next);
    });

    it("writes nothing and answers false for a stale version or an unknown cart", async () => {
      const cart = guestCart();
      await store.insert(cart);
      const current = nextOf(cart, { lines: [line("p1")] });
      await store.replaceIfVersion(current, cart.version);

      const stale = nextOf(cart, { lines: [line("p2", 9)] });
      expect(await store.replaceIfVersion(stale, cart.version)).toBe(false);
      expect(await store.findById(cart.id)).toStrictEqual(current);

      const unknown = guestCart({ version: 2 });
      expect(await store.replaceIfVersion(unknown, 1)).toBe(false);
      expect(await store.findById(unknown.id)).toBeNull();
    });

    it("lets exactly one of 50 writers holding the same version win", async () => {
      const cart = guestCart();
      await store.insert(cart);
      const candidates = Array.from({ length: 50 }, (_, i) =>
        nextOf(cart, { lines: [line(`p${i}`)] }),
      );

      const results = await Promise.all(
        candidates.map((next) => store.replaceIfVersion(next, cart.version)),
      );

      const winners = candidates.filter((_, i) => results[i]);
      expect(winners).toHaveLength(1);
      expect(await store.findById(cart.id)).toStrictEqual(winners[0]);
    });

    it("loses no line when 50 writers add lines through the retry loop at once", async () => {
      const cart = userCart("user-busy");
      await store.insert(cart);
      const products = Array.from({ length: 50 }, (_, i) => `p${i}`);

      await Promise.all(
        products.map((productId) =>
          updateCart(store, cart.id, (current) => ({
            lines: [...current.lines, line(productId)],
          })),
        ),
      );

      const final = await store.findById(cart.id);
      expect(final!.lines.map((l) => l.productId).sort()).toEqual([...products].sort());
      expect(final!.version).toBe(cart.version + 50);
    });
  });

  describe("expireGuestCarts", () => {
    it("expires active guest carts past expiresAt and nothing else", async () => {
      const now = new Date();
      const past = iso(now.getTime() - MINUTE);
      const due = guestCart({ expiresAt: past, lines: [line("p1")] });
      const notYet = guestCart({ expiresAt: iso(now.getTime() + MINUTE) });
      const alreadyMerged = guestCart({ expiresAt: past, status: "merged" });
      const userWithPastExpiry = userCart("user-e", { expiresAt: past });
      const user = userCart("user-f");
      const untouched = [notYet, alreadyMerged, userWithPastExpiry, user];
      for (const cart of [due, ...untouched]) await store.insert(cart);

      expect(await store.expireGuestCarts(now, 100)).toEqual([due.id]);

      expect(await store.findById(due.id)).toStrictEqual({
        ...due,
        status: "expired",
        version: due.version + 1,
        updatedAt: now.toISOString(),
      });
      for (const cart of untouched) expect(await store.findById(cart.id)).toStrictEqual(cart);
      expect(await store.expireGuestCarts(now, 100)).toEqual([]);
    });

    it("expires at most `limit` carts per call", async () => {
      const now = new Date();
      const due = Array.from({ length: 5 }, (_, i) =>
        guestCart({ expiresAt: iso(now.getTime() - (i + 1) * MINUTE) }),
      );
      for (const cart of due) await store.insert(cart);

      const batches = [];
      for (let i = 0; i < 4; i++) batches.push(await store.expireGuestCarts(now, 2));

      expect(batches.map((b) => b.length)).toEqual([2, 2, 1, 0]);
      expect(batches.flat().sort()).toEqual(due.map((c) => c.id).sort());
    });

    it("never loses a write racing the sweep: either the write or the expiry wins, visibly", async () => {
      const now = new Date();
      const carts = Array.from({ length: 20 }, () =>
        guestCart({ expiresAt: iso(now.getTime() - MINUTE) }),
      );
      for (const cart of carts) await store.insert(cart);

      // Each shopper touches the cart they read, which pushes its expiry out.
      const touch = (cart: CartDocument) =>
        store.replaceIfVersion(
          nextOf(cart, { lines: [line("p1")], expiresAt: iso(now.getTime() + 60 * MINUTE) }),
          cart.version,
        );
      const [expired, ...touched] = await Promise.all([
        store.expireGuestCarts(now, 100),
        ...carts.map(touch),
      ]);

      for (const [i, cart] of carts.entries()) {
        const final = (await store.findById(cart.id))!;
        expect(final.version).toBe(cart.version + 1);
        if (touched[i]) {
          expect(expired).not.toContain(cart.id);
          expect(final).toMatchObject({ status: "active", lines: [{ productId: "p1" }] });
        } else {
          expect(expired).toContain(cart.id);
          expect(final).toMatchObject({ status: "expired", lines: [] });
        }
      }
    });
  });

  describe("pending events", () => {
    it("markEventsPublished removes only the named events and leaves the version alone", async () => {
      const at = Date.now() - MINUTE;
      const [e1, e2, e3] = [pendingEvent(at), pendingEvent(at + 1), pendingEvent(at + 2)];
      const cart = guestCart({ version: 4, pendingEvents: [e1, e2, e3] });
      await store.insert(cart);

      await store.markEventsPublished(cart.id, [e1.id, e3.id, randomUUID()]);

      expect(await store.findById(cart.id)).toStrictEqual({ ...cart, pendingEvents: [e2] });
      // Unknown carts and empty lists are not errors.
      await store.markEventsPublished(randomUUID(), [e2.id]);
      await store.markEventsPublished(cart.id, []);
      expect((await store.findById(cart.id))!.pendingEvents).toStrictEqual([e2]);
    });

    it("does not make a concurrent writer fail", async () => {
      const at = Date.now() - MINUTE;
      const [e1, e2] = [pendingEvent(at), pendingEvent(at + 1)];
      const cart = guestCart({ pendingEvents: [e1, e2] });
      await store.insert(cart);
      const e3 = pendingEvent(Date.now());
      const next = nextOf(cart, { lines: [line("p1")], pendingEvents: [e1, e2, e3] });

      const [, written] = await Promise.all([
        store.markEventsPublished(cart.id, [e1.id]),
        store.replaceIfVersion(next, cart.version),
      ]);

      expect(written).toBe(true);
      const final = (await store.findById(cart.id))!;
      expect(final.version).toBe(next.version);
      expect(final.lines).toStrictEqual(next.lines);
      // e1 may come back with the writer's copy: publishing again is safe (consumers de-duplicate by id).
      expect(final.pendingEvents).toEqual(expect.arrayContaining([e2, e3]));
    });

    it("findWithPendingEvents finds carts holding an event older than the cut-off", async () => {
      const now = Date.now();
      const cutOff = new Date(now - MINUTE);
      const old = guestCart({ pendingEvents: [pendingEvent(now - 10 * MINUTE)] });
      const recent = guestCart({ pendingEvents: [pendingEvent(now - 1000)] });
      const none = guestCart();
      const mixed = userCart("user-g", {
        pendingEvents: [pendingEvent(now - 1000), pendingEvent(now - 5 * MINUTE)],
      });
      for (const cart of [old, recent, none, mixed]) await store.insert(cart);

      const found = await store.findWithPendingEvents(cutOff, 10);
      expect(found.map((c) => c.id).sort()).toEqual([old.id, mixed.id].sort());
      expect(found.find((c) => c.id === mixed.id)).toStrictEqual(mixed);
      expect(await store.findWithPendingEvents(cutOff, 1)).toHaveLength(1);

      await store.markEventsPublished(old.id, [old.pendingEvents[0].id]);
      expect((await store.findWithPendingEvents(cutOff, 10)).map((c) => c.id)).toEqual([mixed.id]);
    });
  });
});

describe.each(mongoTargets)("Mongoose cart store connection ($name)", (target) => {
  beforeAll(() => target.start());
  afterAll(() => target.stop());
  afterEach(() => target.cleanup());

  it("keeps the shared Mongoose connection open until its last store disconnects", async () => {
    const url = target.newUrl();
    const first = new MongooseCartStore(url, logger);
    const second = new MongooseCartStore(url, logger);
    await first.connect();
    await second.connect();
    const cart = guestCart();
    await first.insert(cart);

    await first.disconnect();
    await expect(second.ping()).resolves.toBeUndefined();
    expect(await second.findById(cart.id)).toStrictEqual(cart);
    await expect(first.ping()).rejects.toThrow(/not connected/);

    await second.disconnect();
    // And it opens again for the next store.
    const third = new MongooseCartStore(url, logger);
    await third.connect();
    expect(await third.findById(cart.id)).toStrictEqual(cart);
    await third.disconnect();
  });

  it("refuses a second URL while the shared connection is open to another", async () => {
    const first = new MongooseCartStore(target.newUrl(), logger);
    await first.connect();
    try {
      await expect(new MongooseCartStore(target.newUrl(), logger).connect()).rejects.toThrow(
        /already open to another URL/,
      );
    } finally {
      await first.disconnect();
    }
  });
});
