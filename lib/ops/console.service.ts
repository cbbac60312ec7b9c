import { EventEmitter } from "node:events";
import type { Context, ServiceBroker, ServiceSchema } from "moleculer";
import { SEARCH_REBUILD_PROGRESS_EVENT, SearchRebuildProgress } from "./search-progress";

/**
 * The one service of an operator (REPL) node: it listens for the progress
 * events other nodes broadcast while they work for the operator, and hands
 * them to the command that is waiting for them. (A node hears a broadcast
 * only if one of its services listens for it.)
 */
export const OPS_CONSOLE_SERVICE = "ops-console";

const feeds = new WeakMap<ServiceBroker, EventEmitter>();

function feedOf(broker: ServiceBroker): EventEmitter {
  let feed = feeds.get(broker);
  if (!feed) {
    feed = new EventEmitter();
    feeds.set(broker, feed);
  }
  return feed;
}

/** Calls `listener` with each search rebuild progress event this node hears; returns the unsubscribe. */
export function onSearchRebuildProgress(
  broker: ServiceBroker,
  listener: (progress: SearchRebuildProgress) => void,
): () => void {
  const feed = feedOf(broker);
  feed.on(SEARCH_REBUILD_PROGRESS_EVENT, listener);
  return () => feed.off(SEARCH_REBUILD_PROGRESS_EVENT, listener);
}

export const OpsConsoleService: ServiceSchema = {
  name: OPS_CONSOLE_SERVICE,
  events: {
    [SEARCH_REBUILD_PROGRESS_EVENT](ctx: Context<SearchRebuildProgress>) {
      feedOf(ctx.broker).emit(SEARCH_REBUILD_PROGRESS_EVENT, ctx.params);
    },
  },
};
