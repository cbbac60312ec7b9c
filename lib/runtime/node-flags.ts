/**
 * Node flags a node runs with (docs/performance.md; decision 22).
 *
 * `--experimental-async-context-frame`: AsyncLocalStorage (the request
 * context every log line and message carries, lib/observability) kept in
 * a frame that follows async calls, instead of async hooks that run on
 * every promise created. On Node 22 the hooks cost the gateway a sixth to a
 * third of its throughput on its cheapest route. Node 24 made the frame the
 * default (and need not be told); Node reads the flag only as a process
 * starts.
 */
export const ASYNC_CONTEXT_FRAME = "--experimental-async-context-frame";

/**
 * The flags this process was not started with and should have been: none
 * where the Node build does not know them (Node 24 and later have the frame
 * without the flag), and none that the command line or NODE_OPTIONS gives
 * or turns off (`--no-experimental-async-context-frame`: the operator's
 * choice wins).
 */
export function missingNodeFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? "",
  known: ReadonlySet<string> = process.allowedNodeEnvironmentFlags,
  nodeMajor: number = Number(process.versions.node.split(".")[0]),
): string[] {
  if (nodeMajor !== 22 || !known.has(ASYNC_CONTEXT_FRAME)) return [];
  const given = [...execArgv, ...nodeOptions.split(/\s+/)];
  const turnedOff = ASYNC_CONTEXT_FRAME.replace(/^--/, "--no-");
  return given.includes(ASYNC_CONTEXT_FRAME) || given.includes(turnedOff)
    ? []
    : [ASYNC_CONTEXT_FRAME];
}
