import type { ServiceBroker } from "moleculer";
import { offeredActions } from "./cluster-calls";
import { Report, table } from "./output";

/**
 * REPL `caches clear`: every service whose actions are cached cleans its
 * entries on every node. Each such service listens for the broadcast
 * `cache.clean.<service>` (the catalog does, as its own invalidation) and
 * cleans `<service>.**` in the node's cacher — the in-process memory cache,
 * or the shared Redis one. Moleculer's own `cache clear` only reaches the
 * REPL node's cacher.
 */
export function cacheCleanEvent(service: string): string {
  return `cache.clean.${service}`;
}

export async function clearCaches(broker: ServiceBroker): Promise<Report> {
  const cached = [
    ...new Set(
      offeredActions(broker)
        .filter((a) => a.definition.cache)
        .map((a) => a.service),
    ),
  ].sort();
  if (!cached.length) return ["No service in the cluster caches action results"];
  const listeners = broker.registry.getEventList({ onlyAvailable: true, withEndpoints: true });
  const rows = [];
  for (const service of cached) {
    const event = cacheCleanEvent(service);
    const nodes = (listeners.find((e) => e.name === event)?.endpoints ?? []).map((e) => e.nodeID);
    if (!nodes.length) {
      rows.push([service, null, `nobody listens for ${event}: entries expire with their TTL`]);
      continue;
    }
    await broker.broadcast(event, {});
    rows.push([service, [...new Set(nodes)].sort().join(", "), "asked to clean"]);
  }
  return [table(["service", "nodes", "result"], rows, "Caches")];
}
