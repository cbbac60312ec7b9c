import type { ServiceBroker } from "moleculer";

/**
 * Reaching every node of a service from an operator node. State that lives
 * per node (in-process queues, memory caches, per-node search indexes, SQLite
 * outboxes) is only seen by asking each node in turn, so commands address
 * nodes explicitly instead of letting the balancer pick one.
 */

/** An action some node offers, with the nodes that offer it now. */
export interface OfferedAction {
  /** "orders.outboxStatus" */
  name: string;
  /** "orders" */
  service: string;
  nodeIDs: string[];
  /** The action's definition as registered (no handler). */
  definition: Record<string, unknown>;
}

/** Available actions of any service whose own name is `actionName` (e.g. every `*.outboxStatus`). */
export function actionsNamed(broker: ServiceBroker, actionName: string): OfferedAction[] {
  return offeredActions(broker).filter((a) => a.name.endsWith(`.${actionName}`));
}

/** The nodes that offer one action now (none when it is not registered). */
export function nodesOffering(broker: ServiceBroker, action: string): string[] {
  return offeredActions(broker).find((a) => a.name === action)?.nodeIDs ?? [];
}

export function offeredActions(broker: ServiceBroker): OfferedAction[] {
  return broker.registry
    .getActionList({ onlyAvailable: true, skipInternal: true, withEndpoints: true })
    .map((item) => ({
      name: item.name,
      service: item.name.slice(0, item.name.lastIndexOf(".")),
      nodeIDs: (item.endpoints ?? [])
        .filter((ep) => ep.available)
        .map((ep) => ep.nodeID)
        .sort(),
      definition: (item.action ?? {}) as Record<string, unknown>,
    }))
    .filter((a) => a.nodeIDs.length > 0)
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The answer of one node: its result, or why it did not give one. */
export type NodeAnswer<T> =
  { nodeID: string; ok: true; result: T } | { nodeID: string; ok: false; error: string };

/** Calls an action on each of the given nodes at once; a node that fails does not hide the others. */
export function callOnNodes<T>(
  broker: ServiceBroker,
  action: string,
  nodeIDs: string[],
  params: object = {},
  timeoutMs?: number,
): Promise<NodeAnswer<T>[]> {
  return Promise.all(
    nodeIDs.map(async (nodeID): Promise<NodeAnswer<T>> => {
      try {
        const result = await broker.call<T, object>(action, params, {
          nodeID,
          ...(timeoutMs ? { timeout: timeoutMs } : {}),
        });
        return { nodeID, ok: true, result };
      } catch (err) {
        return { nodeID, ok: false, error: errorText(err) };
      }
    }),
  );
}

/**
 * An error as one line: its message, its type when it has one (NOT_FOUND,
 * VALIDATION_ERROR, …) and what its details say (which parameter was wrong).
 */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const { type, data } = err as { type?: unknown; data?: unknown };
  const typed = typeof type === "string" && type ? `${err.message} (${type})` : err.message;
  // Moleculer's validator puts its findings in `data`, AppError in `data.details`.
  const details = Array.isArray(data) ? data : (data as { details?: unknown })?.details;
  const messages = Array.isArray(details)
    ? details.map((d: { message?: unknown }) => d?.message).filter((m) => typeof m === "string")
    : [];
  return messages.length ? `${typed}: ${messages.join("; ")}` : typed;
}
