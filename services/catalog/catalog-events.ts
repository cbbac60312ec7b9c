import type { ProductArchivedPayload, ProductSnapshot } from "../../lib/contracts/catalog";
import type { OutboxMessageInput } from "../../lib/messaging/outbox";
import { EventTypes, Topics } from "../../lib/messaging/topics";
import type { OutboxHandle } from "../../mixins/outbox.mixin";

/**
 * Messages the catalog publishes on `product.events` (partition key = the
 * product id), always through the outbox in the transaction that made the
 * change. Created and Updated carry the whole snapshot, so a consumer never
 * needs to call back; `version` lets it drop anything older than it holds.
 */
export type CatalogOutbox = Pick<OutboxHandle, "enqueue">;

export function productCreated(snapshot: ProductSnapshot): OutboxMessageInput {
  return {
    topic: Topics.ProductEvents,
    type: EventTypes.ProductCreated,
    aggregateId: snapshot.id,
    payload: snapshot,
  };
}

export function productUpdated(snapshot: ProductSnapshot): OutboxMessageInput {
  return {
    topic: Topics.ProductEvents,
    type: EventTypes.ProductUpdated,
    aggregateId: snapshot.id,
    payload: snapshot,
  };
}

export function productArchived(snapshot: ProductSnapshot): OutboxMessageInput {
  const payload: ProductArchivedPayload = { id: snapshot.id, version: snapshot.version };
  return {
    topic: Topics.ProductEvents,
    type: EventTypes.ProductArchived,
    aggregateId: snapshot.id,
    payload,
  };
}
