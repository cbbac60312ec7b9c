import v8 from "node:v8";

/**
 * How far V8 lets the old generation grow past what survived the last full
 * collection before it collects again. V8's own choice goes up to four
 * times: under the bench's load that was about 300 MB of heap for 75 MB of
 * live data, most of the node's memory. A fixed 20 % keeps the heap near its
 * live size, and still follows it (a node with a larger catalog gets what it
 * needs, unlike a hard --max-old-space-size), at no throughput cost the
 * bench could measure (docs/performance.md).
 */
export const HEAP_GROWING_PERCENT = 20;

/**
 * Sets the heap growth for this process, unless node was started with its
 * own `--heap-growing-percent`. V8 reads the flag at every full collection,
 * so setting it as the process starts acts as the command-line flag does.
 */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => arg.startsWith("--heap-growing-percent"))) return false;
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
