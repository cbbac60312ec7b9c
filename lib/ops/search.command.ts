import type { ServiceBroker } from "moleculer";
import type { AppliedEvent } from "../../services/search/indexer";
import type { RebuildResult, RebuildState } from "../../services/search/rebuild";
import { callOnNodes, nodesOffering } from "./cluster-calls";
import { onSearchRebuildProgress } from "./console.service";
import { formatDuration, Report, table } from "./output";
import type { SearchRebuildProgress } from "./search-progress";

/**
 * REPL `search rebuild [--clear] [--page-size n]` and `search status`. An
 * in-process index (MiniSearch) lives on each search node, so each one is
 * rebuilt; a shared one (Elasticsearch) is rebuilt once. Progress lines come
 * from the nodes' progress events while the rebuild runs.
 */
export interface RebuildOptions {
  /** Empty the index first: also drops products the catalog no longer has. */
  clear?: boolean;
  /** Products per catalog page. */
  pageSize?: number;
}

interface SearchStatus {
  adapter: string;
  documents: number;
  channelGroup: string;
  lastEvent: AppliedEvent | null;
  rebuild: RebuildState;
}

/** A rebuild of a large catalog takes minutes (the action allows 15). */
const REBUILD_TIMEOUT_MS = 15 * 60_000;

export async function rebuildSearch(
  broker: ServiceBroker,
  options: RebuildOptions = {},
  onProgress: (line: string) => void = () => undefined,
): Promise<Report> {
  const targets = await rebuildTargets(broker);
  const stopListening = onSearchRebuildProgress(broker, (progress) => {
    if (targets.includes(progress.nodeID)) onProgress(progressLine(progress));
  });
  try {
    const params = {
      ...(options.clear ? { clear: true } : {}),
      ...(options.pageSize ? { pageSize: options.pageSize } : {}),
    };
    const answers = await callOnNodes<RebuildResult>(
      broker,
      "search.rebuild",
      targets,
      params,
      REBUILD_TIMEOUT_MS,
    );
    const failures = answers.filter((a) => !a.ok).length;
    return [
      failures
        ? `Search rebuild failed on ${failures} of ${answers.length} node(s)`
        : `Search index rebuilt on ${answers.length} node(s)`,
      table(
        ["node", "indexed", "took", "error"],
        answers.map((a) =>
          a.ok
            ? [a.nodeID, a.result.indexed, formatDuration(a.result.tookMs), null]
            : [a.nodeID, null, null, a.error],
        ),
      ),
    ];
  } finally {
    stopListening();
  }
}

export async function searchStatus(broker: ServiceBroker): Promise<Report> {
  const nodes = requireSearchNodes(broker);
  const answers = await callOnNodes<SearchStatus>(broker, "search.status", nodes);
  return [
    table(
      ["node", "adapter", "documents", "last event", "rebuild"],
      answers.map((a) =>
        a.ok
          ? [
              a.nodeID,
              a.result.adapter,
              a.result.documents,
              a.result.lastEvent
                ? `${a.result.lastEvent.type} at ${a.result.lastEvent.appliedAt}`
                : null,
              describeRebuild(a.result.rebuild),
            ]
          : [a.nodeID, null, null, null, `no answer: ${a.error}`],
      ),
      "Search",
    ),
  ];
}

/** Every search node with an index of its own; one node when they share the index. */
async function rebuildTargets(broker: ServiceBroker): Promise<string[]> {
  const nodes = requireSearchNodes(broker);
  const [first] = await callOnNodes<SearchStatus>(broker, "search.status", nodes.slice(0, 1));
  const shared = first.ok && first.result.adapter === "elasticsearch";
  return shared ? nodes.slice(0, 1) : nodes;
}

function requireSearchNodes(broker: ServiceBroker): string[] {
  const nodes = nodesOffering(broker, "search.rebuild");
  if (!nodes.length) throw new Error("No search node is running");
  return nodes;
}

export function progressLine({ nodeID, indexed, total, percent }: SearchRebuildProgress): string {
  return percent !== undefined
    ? `${nodeID}: ${percent}% (${indexed} of ${total} products)`
    : `${nodeID}: ${indexed} products indexed so far`;
}

function describeRebuild(state: RebuildState): string {
  switch (state.state) {
    case "never":
      return "never";
    case "running":
      return `running since ${state.startedAt}`;
    case "done":
      return `done at ${state.finishedAt}: ${state.indexed} in ${formatDuration(state.tookMs)}`;
    case "failed":
      return `failed at ${state.finishedAt}: ${state.error}`;
  }
}
