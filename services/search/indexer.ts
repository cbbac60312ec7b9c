import type {
  ProductArchivedPayload,
  ProductSnapshot,
  StockChangedPayload,
} from "../../lib/contracts/catalog";
import type { MessageEnvelope } from "../../lib/messaging/envelope";
import { EventTypes } from "../../lib/messaging/topics";
import { SearchIndex, toSearchDocument, WriteOutcome } from "./index-port";

/**
 * Keeps the index in step with `product.events`: a product created or
 * updated is upserted (or removed when it is no longer active), an archived
 * one removed, a stock change applied. Versions in the index make every step
 * idempotent and order-proof, so redeliveries and a concurrent rebuild are
 * harmless. A malformed payload throws (the message is retried, then
 * dead-lettered).
 */
export interface AppliedEvent {
  type: string;
  messageId: string;
  productId: string;
  occurredAt: string;
  appliedAt: string;
  /** appliedAt − occurredAt: how far the index trails the catalog. */
  lagMs: number;
  /** "ignored": the index already held this version or a newer one. */
  outcome: "applied" | "ignored";
}

export class ProductEventIndexer {
  private last?: AppliedEvent;

  constructor(
    private readonly index: SearchIndex,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The last event applied (or found stale), for search.status. */
  get lastEvent(): AppliedEvent | undefined {
    return this.last;
  }

  /** Applies one message; returns undefined for event types the index does not use. */
  async apply(envelope: MessageEnvelope<unknown>): Promise<AppliedEvent | undefined> {
    const outcome = await this.write(envelope);
    if (!outcome) return undefined;
    const appliedAt = this.now();
    this.last = {
      type: envelope.type,
      messageId: envelope.id,
      productId: envelope.aggregateId,
      occurredAt: envelope.occurredAt,
      appliedAt: appliedAt.toISOString(),
      lagMs: Math.max(0, appliedAt.getTime() - Date.parse(envelope.occurredAt)),
      outcome: outcome.applied > 0 ? "applied" : "ignored",
    };
    return this.last;
  }

  private write(envelope: MessageEnvelope<unknown>): Promise<WriteOutcome> | undefined {
    switch (envelope.type) {
      case EventTypes.ProductCreated:
      case EventTypes.ProductUpdated: {
        const product = productSnapshot(envelope);
        const doc = toSearchDocument(product);
        return doc
          ? this.index.upsert([doc])
          : this.index.remove([{ id: product.id, productVersion: product.version }]);
      }
      case EventTypes.ProductArchived: {
        const { id, version } = archived(envelope);
        return this.index.remove([{ id, productVersion: version }]);
      }
      case EventTypes.StockChanged:
        return this.index.applyStock([stockLevel(envelope)]);
      default:
        return undefined;
    }
  }
}

class MalformedPayloadError extends Error {
  override readonly name = "MalformedPayloadError";
}

function record(envelope: MessageEnvelope<unknown>): Record<string, unknown> {
  const p = envelope.payload;
  if (typeof p !== "object" || p === null)
    throw new MalformedPayloadError(`${envelope.type} ${envelope.id}: payload is not an object`);
  return p as Record<string, unknown>;
}

function requireFields(
  envelope: MessageEnvelope<unknown>,
  p: Record<string, unknown>,
  checks: Record<string, (v: unknown) => boolean>,
): void {
  for (const [field, ok] of Object.entries(checks)) {
    if (!ok(p[field]))
      throw new MalformedPayloadError(`${envelope.type} ${envelope.id}: bad or missing "${field}"`);
  }
}

const isString = (v: unknown) => typeof v === "string" && v !== "";
const isVersion = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
const isObject = (v: unknown) => typeof v === "object" && v !== null;

function productSnapshot(envelope: MessageEnvelope<unknown>): ProductSnapshot {
  const p = record(envelope);
  requireFields(envelope, p, {
    id: isString,
    version: isVersion,
    status: isString,
    name: (v) => typeof v === "string",
    slug: (v) => typeof v === "string",
    categoryId: (v) => typeof v === "string",
    price: (v) => isObject(v) && Number.isInteger((v as { amount?: unknown }).amount),
    createdAt: isString,
  });
  return p as unknown as ProductSnapshot;
}

function archived(envelope: MessageEnvelope<unknown>): ProductArchivedPayload {
  const p = record(envelope);
  requireFields(envelope, p, { id: isString, version: isVersion });
  return p as unknown as ProductArchivedPayload;
}

function stockLevel(envelope: MessageEnvelope<unknown>): StockChangedPayload {
  const p = record(envelope);
  requireFields(envelope, p, {
    productId: isString,
    available: Number.isInteger,
    version: isVersion,
  });
  return p as unknown as StockChangedPayload;
}
