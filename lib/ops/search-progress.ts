/**
 * Progress of a search index rebuild, broadcast by the search node doing it
 * (an ephemeral broker event: a lost one only means one line less in the
 * operator's REPL). The REPL's `search rebuild` prints them as they come.
 */
export const SEARCH_REBUILD_PROGRESS_EVENT = "search.rebuild.progress";

export interface SearchRebuildProgress {
  /** The search node rebuilding its index. */
  nodeID: string;
  /** Products written so far. */
  indexed: number;
  /** When the catalog says how many there are. */
  total?: number;
  percent?: number;
}
