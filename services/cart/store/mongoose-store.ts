import type { Logger, Service, ServiceBroker } from "moleculer";
import MongooseDbAdapter from "moleculer-db-adapter-mongoose";
import mongoose, { Schema } from "mongoose";
import type { Money } from "../../../lib/contracts/catalog";
import type { CartStatus } from "../../../lib/contracts/cart";
import {
  type CartDocument,
  type CartStore,
  DuplicateActiveCartError,
  type PendingCartEvent,
  type StoredCartLine,
} from "./port";

/**
 * The MongoDB cart store (MONGO_URL), through Mongoose and
 * moleculer-db-adapter-mongoose. One document per cart, `_id` = cart id.
 *
 * - Every conditional write is one MongoDB update whose filter names the
 *   expected version: MongoDB applies a single-document write atomically, so
 *   two writers holding the same version cannot both match.
 * - "One active cart per user" is a unique index on `activeUserId`, a field
 *   present only while a user's cart is active (partial index: guest carts
 *   and closed carts are not in it). `_id` and `activeUserId` never leave
 *   this file.
 * - Times are stored as BSON dates (so the expiry sweep and the outbox sweep
 *   compare them in the database) and read back as ISO 8601 strings.
 * - TLS comes from the URL's own options (`?tls=true&tlsCAFile=…`); the
 *   driver verifies the server's certificate unless the URL itself says
 *   otherwise, and this file never does.
 */

/** What a cart looks like in the collection. */
interface StoredCart {
  _id: string;
  userId: string | null;
  tokenHash: string | null;
  status: CartStatus;
  lines: StoredLine[];
  version: number;
  createdAt: Date;
  updatedAt: Date;
  expiresAt: Date | null;
  orderId: string | null;
  mergedInto: string | null;
  mergedFrom: string[];
  pendingEvents: StoredEvent[];
  /** The user id, only while the cart is an active user cart. */
  activeUserId?: string;
}

interface StoredLine extends Omit<StoredCartLine, "addedAt"> {
  addedAt: Date;
}

interface StoredEvent extends Omit<PendingCartEvent, "occurredAt"> {
  occurredAt: Date;
}

const ACTIVE_USER_INDEX = "activeUserId_1";
const nullableString = { type: String, default: null };
// minimize: false keeps empty objects (an event payload `{}` stays `{}`).
const nested = { _id: false, minimize: false } as const;

const moneySchema = new Schema<Money>(
  {
    amount: { type: Number, required: true, validate: Number.isInteger },
    currency: { type: String, required: true },
  },
  nested,
);

const lineSchema = new Schema<StoredLine>(
  {
    productId: { type: String, required: true },
    quantity: { type: Number, required: true, validate: Number.isInteger },
    seenUnitPrice: { type: moneySchema, required: true },
    addedAt: { type: Date, required: true },
  },
  nested,
);

const eventSchema = new Schema<StoredEvent>(
  {
    id: { type: String, required: true },
    // A path named "type" must be declared in the long form.
    type: { type: String, required: true },
    payload: { type: Schema.Types.Mixed },
    occurredAt: { type: Date, required: true },
    correlationId: { type: String },
    causationId: { type: String },
    trace: { type: Schema.Types.Mixed },
  },
  nested,
);

const cartSchema = new Schema<StoredCart>(
  {
    _id: { type: String, required: true },
    userId: nullableString,
    tokenHash: nullableString,
    status: { type: String, required: true, enum: ["active", "merged", "converted", "expired"] },
    lines: { type: [lineSchema], default: [] },
    version: { type: Number, required: true },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
    expiresAt: { type: Date, default: null },
    orderId: nullableString,
    mergedInto: nullableString,
    mergedFrom: { type: [String], default: [] },
    pendingEvents: { type: [eventSchema], default: [] },
    activeUserId: { type: String },
  },
  {
    collection: "carts",
    versionKey: false, // our own `version` is the concurrency token
    minimize: false,
    // Indexes are built in connect(), awaited, so the unique index exists before the first insert.
    autoIndex: false,
    autoCreate: false,
  },
);
cartSchema.index(
  { activeUserId: 1 },
  {
    name: ACTIVE_USER_INDEX,
    unique: true,
    partialFilterExpression: { activeUserId: { $type: "string" } },
  },
);
// The expiry sweep: active guest carts (userId null) by expiresAt.
cartSchema.index({ status: 1, userId: 1, expiresAt: 1 });
// The outbox sweep: carts holding an old pending event.
cartSchema.index({ "pendingEvents.occurredAt": 1 });

const CartModel = mongoose.model<StoredCart>("Cart", cartSchema);

/**
 * moleculer-db-adapter-mongoose connects through Mongoose's process-wide
 * default connection, and its disconnect closes that connection: two stores
 * in one process (tests, or two services on one node) share it, and one
 * store's disconnect would cut off the other. So the stores count the
 * connection's users: the first connect opens it, the last disconnect
 * closes it, and opening and closing run one after the other.
 */
const sharedConnection = {
  url: undefined as string | undefined,
  users: 0,
  queue: Promise.resolve() as Promise<unknown>,
};

function serially<T>(step: () => Promise<T>): Promise<T> {
  const result = sharedConnection.queue.then(step);
  sharedConnection.queue = result.catch(() => undefined);
  return result;
}

type Listener = [event: string, listener: (...args: unknown[]) => void];

/**
 * The adapter adds log listeners to the shared connection on every connect;
 * each store takes its own off when it leaves, so they do not pile up.
 */
function adapterListeners(): Listener[] {
  return ["disconnected", "error", "reconnected"].flatMap((event) =>
    mongoose.connection.listeners(event).map((fn): Listener => [event, fn as Listener[1]]),
  );
}

/** The adapter's surface this store uses (its own typings want a moleculer-db service). */
interface Adapter {
  init(broker: ServiceBroker, service: Service): void;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  insert(entity: object): Promise<unknown>;
  db: mongoose.mongo.Db;
}

export class MongooseCartStore implements CartStore {
  readonly kind = "mongodb" as const;
  private readonly adapter: Adapter;
  private connected = false;
  /** The log listeners the adapter added to the shared connection, taken off on disconnect. */
  private listeners: Listener[] = [];

  constructor(
    private readonly url: string,
    logger: Logger,
  ) {
    this.adapter = new MongooseDbAdapter(url) as unknown as Adapter;
    // The adapter only reads the model and the logger; the store is not a moleculer-db service.
    this.adapter.init(
      undefined as unknown as ServiceBroker,
      { schema: { model: CartModel }, settings: {}, logger } as unknown as Service,
    );
  }

  async connect(): Promise<void> {
    await serially(async () => {
      if (this.connected) return;
      if (sharedConnection.users > 0 && sharedConnection.url !== this.url)
        throw new Error("Mongoose's process-wide connection is already open to another URL");
      const before = adapterListeners();
      await this.adapter.connect();
      this.listeners = adapterListeners().filter(
        ([event, fn]) => !before.some(([e, f]) => e === event && f === fn),
      );
      try {
        await CartModel.createIndexes();
      } catch (err) {
        for (const [event, listener] of this.listeners) mongoose.connection.off(event, listener);
        if (sharedConnection.users === 0) await this.adapter.disconnect();
        throw err;
      }
      sharedConnection.url = this.url;
      sharedConnection.users++;
      this.connected = true;
    });
  }

  async disconnect(): Promise<void> {
    await serially(async () => {
      if (!this.connected) return;
      this.connected = false;
      for (const [event, listener] of this.listeners) mongoose.connection.off(event, listener);
      sharedConnection.users--;
      if (sharedConnection.users > 0) return;
      sharedConnection.url = undefined;
      await this.adapter.disconnect();
    });
  }

  async ping(): Promise<void> {
    if (!this.connected) throw new Error("The MongoDB cart store is not connected");
    await this.adapter.db.admin().command({ ping: 1 });
  }

  async insert(cart: CartDocument): Promise<void> {
    try {
      await this.adapter.insert(toStored(cart));
    } catch (err) {
      throw translate(err, cart);
    }
  }

  async findById(id: string): Promise<CartDocument | null> {
    const stored = await CartModel.findById(id).lean<StoredCart>().exec();
    return stored ? fromStored(stored) : null;
  }

  async findActiveByUser(userId: string): Promise<CartDocument | null> {
    const stored = await CartModel.findOne({ activeUserId: userId }).lean<StoredCart>().exec();
    return stored ? fromStored(stored) : null;
  }

  async replaceIfVersion(next: CartDocument, expectedVersion: number): Promise<boolean> {
    if (next.version !== expectedVersion + 1)
      throw new Error(
        `replaceIfVersion: version ${next.version} does not follow ${expectedVersion}`,
      );
    try {
      const result = await CartModel.replaceOne(
        { _id: next.id, version: expectedVersion },
        toStored(next),
      ).exec();
      return result.matchedCount === 1;
    } catch (err) {
      throw translate(err, next);
    }
  }

  async expireGuestCarts(now: Date, limit: number): Promise<string[]> {
    const due = await CartModel.find(
      { status: "active", userId: null, expiresAt: { $lt: now } },
      { _id: 1, version: 1 },
    )
      .sort({ expiresAt: 1 })
      .limit(limit)
      .lean<Pick<StoredCart, "_id" | "version">[]>()
      .exec();
    const expired: string[] = [];
    for (const cart of due) {
      // Conditional on the version read: a cart touched meanwhile keeps that write
      // (and its later expiry); the next sweep looks at it again.
      const result = await CartModel.updateOne(
        { _id: cart._id, version: cart.version },
        { $set: { status: "expired", updatedAt: now }, $inc: { version: 1 } },
      ).exec();
      if (result.matchedCount === 1) expired.push(cart._id);
    }
    return expired;
  }

  async markEventsPublished(cartId: string, eventIds: string[]): Promise<void> {
    if (!eventIds.length) return;
    await CartModel.updateOne(
      { _id: cartId },
      { $pull: { pendingEvents: { id: { $in: eventIds } } } },
    ).exec();
  }

  async findWithPendingEvents(olderThan: Date, limit: number): Promise<CartDocument[]> {
    const stored = await CartModel.find({ "pendingEvents.occurredAt": { $lt: olderThan } })
      // Ascending on an array field sorts by its smallest element: the oldest event first.
      .sort({ "pendingEvents.occurredAt": 1 })
      .limit(limit)
      .lean<StoredCart[]>()
      .exec();
    return stored.map(fromStored);
  }
}

function toStored(cart: CartDocument): StoredCart {
  const stored: StoredCart = {
    _id: cart.id,
    userId: cart.userId,
    tokenHash: cart.tokenHash,
    status: cart.status,
    lines: cart.lines.map((line) => ({
      productId: line.productId,
      quantity: line.quantity,
      seenUnitPrice: { amount: line.seenUnitPrice.amount, currency: line.seenUnitPrice.currency },
      addedAt: new Date(line.addedAt),
    })),
    version: cart.version,
    createdAt: new Date(cart.createdAt),
    updatedAt: new Date(cart.updatedAt),
    expiresAt: cart.expiresAt === null ? null : new Date(cart.expiresAt),
    orderId: cart.orderId,
    mergedInto: cart.mergedInto,
    mergedFrom: [...cart.mergedFrom],
    pendingEvents: cart.pendingEvents.map((event) => ({
      ...event,
      occurredAt: new Date(event.occurredAt),
    })),
  };
  if (cart.userId && cart.status === "active") stored.activeUserId = cart.userId;
  return stored;
}

/** A plain CartDocument: no `_id` or `activeUserId`, times as ISO strings, null kept null. */
function fromStored(stored: StoredCart): CartDocument {
  return {
    id: stored._id,
    userId: stored.userId ?? null,
    tokenHash: stored.tokenHash ?? null,
    status: stored.status,
    lines: (stored.lines ?? []).map((line) => ({
      productId: line.productId,
      quantity: line.quantity,
      seenUnitPrice: { amount: line.seenUnitPrice.amount, currency: line.seenUnitPrice.currency },
      addedAt: line.addedAt.toISOString(),
    })),
    version: stored.version,
    createdAt: stored.createdAt.toISOString(),
    updatedAt: stored.updatedAt.toISOString(),
    expiresAt: stored.expiresAt ? stored.expiresAt.toISOString() : null,
    orderId: stored.orderId ?? null,
    mergedInto: stored.mergedInto ?? null,
    mergedFrom: stored.mergedFrom ?? [],
    pendingEvents: (stored.pendingEvents ?? []).map(fromStoredEvent),
  };
}

function fromStoredEvent(stored: StoredEvent): PendingCartEvent {
  const event: PendingCartEvent = {
    id: stored.id,
    type: stored.type,
    payload: stored.payload,
    occurredAt: stored.occurredAt.toISOString(),
  };
  // Optional fields stay absent when they were never set.
  if (stored.correlationId !== undefined) event.correlationId = stored.correlationId;
  if (stored.causationId !== undefined) event.causationId = stored.causationId;
  if (stored.trace) event.trace = stored.trace;
  return event;
}

/** MongoDB reports a unique index clash as code 11000 naming the index: ours means a second active cart. */
function translate(err: unknown, cart: CartDocument): unknown {
  const { code, keyPattern, message } = (err ?? {}) as {
    code?: unknown;
    keyPattern?: Record<string, unknown>;
    message?: unknown;
  };
  const onActiveUserIndex =
    keyPattern?.activeUserId !== undefined || String(message).includes(ACTIVE_USER_INDEX);
  if (code === 11000 && onActiveUserIndex && cart.userId)
    return new DuplicateActiveCartError(cart.userId);
  return err;
}
