import { environmentWithMallocSettings } from "./malloc";
import { missingNodeFlags } from "./node-flags";

/**
 * glibc's malloc settings and some Node flags are read only as a process
 * starts, so a node started without them starts itself again with them:
 * execve replaces the program in place (same process id, arguments, node
 * flags and the rest of the environment), before anything else has run.
 * Returns only when no restart is needed or possible (a Node without
 * process.execve runs on as it is).
 */
export function restartWithStartSettings(): void {
  const env = environmentWithMallocSettings();
  const flags = missingNodeFlags();
  if ((!env && !flags.length) || typeof process.execve !== "function") return;
  process.execve(
    process.execPath,
    [process.execPath, ...process.execArgv, ...flags, ...process.argv.slice(1)],
    env ?? process.env,
  );
}
