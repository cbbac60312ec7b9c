import type { Logger, Service, ServiceBroker } from "moleculer";
import { MemoryAdapter } from "moleculer-db";
import { CartDocument, CartStore, DuplicateActiveCartError } from "./port";

/**
 * The embedded cart store: the moleculer-db memory adapter (NeDB) in this
 * process, lost on restart. NeDB runs one operation at a time, so a
 * conditional update is atomic: `replaceIfVersion` is a single update whose
 * query names the expected version.
 *
 * "One active cart per user" is a unique sparse index on `activeUserId`, a
 * field that exists only while a user's cart is active; NeDB checks it on
 * insert and update alike. `_id` and `activeUserId` never leave this file.
 *
 * Reads and updates go to the adapter's NeDB datastore (`findOneAsync`,
 * `updateAsync`): the adapter's `updateMany` makes Node print a deprecation
 * warning on every call, and its `findOne` goes through NeDB's callback
 * API, which wraps the promise in a callback (`util.callbackify`) on every
 * read only for the adapter to make a promise of it again.
 */
interface StoredCart extends Omit<CartDocument, "id"> {
  _id: string;
  activeUserId?: string;
}

/** The part of NeDB's Datastore the store uses (the adapter has promisified ensureIndex). */
interface NeDbDatastore {
  ensureIndex(options: { fieldName: string; unique?: boolean; sparse?: boolean }): Promise<void>;
  findOneAsync(query: object): PromiseLike<StoredCart | null>;
  updateAsync(query: object, update: object): Promise<{ numAffected: number }>;
}

type Adapter = MemoryAdapter & { db: NeDbDatastore };

export class MemoryCartStore implements CartStore {
  readonly kind = "memory" as const;
  private adapter?: Adapter;

  constructor(private readonly logger: Logger) {}

  async connect(): Promise<void> {
    const adapter = new MemoryAdapter() as Adapter;
    // The adapter only keeps these; the store is not a moleculer-db service.
    adapter.init(
      undefined as unknown as ServiceBroker,
      { schema: {}, logger: this.logger } as unknown as Service,
    );
    await adapter.connect();
    await adapter.db.ensureIndex({ fieldName: "activeUserId", unique: true, sparse: true });
    this.adapter = adapter;
  }

  async disconnect(): Promise<void> {
    await this.adapter?.disconnect();
    this.adapter = undefined;
  }

  async ping(): Promise<void> {
    if (!this.adapter) throw new Error("The memory cart store is not connected");
  }

  async insert(cart: CartDocument): Promise<void> {
    try {
      await this.connected().insert(toStored(cart));
    } catch (err) {
      throw translate(err, cart);
    }
  }

  async findById(id: string): Promise<CartDocument | null> {
    return fromStored(await this.datastore().findOneAsync({ _id: id }));
  }

  async findActiveByUser(userId: string): Promise<CartDocument | null> {
    return fromStored(await this.datastore().findOneAsync({ activeUserId: userId }));
  }

  async replaceIfVersion(next: CartDocument, expectedVersion: number): Promise<boolean> {
    if (next.version !== expectedVersion + 1)
      throw new Error(
        `replaceIfVersion: version ${next.version} does not follow ${expectedVersion}`,
      );
    try {
      // A document without modifiers replaces the stored one (keeping _id).
      const { numAffected } = await this.datastore().updateAsync(
        { _id: next.id, version: expectedVersion },
        toStored(next),
      );
      return numAffected === 1;
    } catch (err) {
      throw translate(err, next);
    }
  }

  async expireGuestCarts(now: Date, limit: number): Promise<string[]> {
    const due = (await this.connected().find({
      query: { status: "active", userId: null, expiresAt: { $lt: now.toISOString() } },
      limit,
    })) as StoredCart[];
    const expired: string[] = [];
    for (const cart of due) {
      // Conditional on the version read: a cart touched meanwhile has a later expiry.
      const { numAffected } = await this.datastore().updateAsync(
        { _id: cart._id, version: cart.version },
        {
          $set: { status: "expired", updatedAt: now.toISOString() },
          $inc: { version: 1 },
        },
      );
      if (numAffected === 1) expired.push(cart._id);
    }
    return expired;
  }

  async markEventsPublished(cartId: string, eventIds: string[]): Promise<void> {
    if (!eventIds.length) return;
    await this.datastore().updateAsync(
      { _id: cartId },
      { $pull: { pendingEvents: { id: { $in: eventIds } } } },
    );
  }

  async findWithPendingEvents(olderThan: Date, limit: number): Promise<CartDocument[]> {
    const carts = (await this.connected().find({
      query: { pendingEvents: { $elemMatch: { occurredAt: { $lt: olderThan.toISOString() } } } },
      limit,
    })) as StoredCart[];
    return carts.map((cart) => fromStored(cart)!);
  }

  private connected(): Adapter {
    if (!this.adapter) throw new Error("The memory cart store is not connected");
    return this.adapter;
  }

  private datastore(): NeDbDatastore {
    return this.connected().db;
  }
}

function toStored(cart: CartDocument): StoredCart {
  const { id, ...rest } = cart;
  // NeDB stores a deep copy of what it is given (insert and replacing update alike).
  const stored: StoredCart = { _id: id, ...rest };
  if (cart.userId && cart.status === "active") stored.activeUserId = cart.userId;
  return stored;
}

function fromStored(stored: StoredCart | null): CartDocument | null {
  if (!stored) return null;
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { _id, activeUserId, ...rest } = stored;
  return { id: _id, ...rest };
}

/** NeDB names the value that broke a unique index: the user id means a second active cart. */
function translate(err: unknown, cart: CartDocument): unknown {
  const { errorType, key } = (err ?? {}) as { errorType?: unknown; key?: unknown };
  if (errorType === "uniqueViolated" && cart.userId && key === cart.userId)
    return new DuplicateActiveCartError(cart.userId);
  return err;
}
