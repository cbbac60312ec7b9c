/**
 * glibc malloc settings for a node (docs/performance.md, Memory; decision 19).
 *
 * - Arenas: glibc gives every thread that allocates its own arena (up to
 *   eight per core), and an arena keeps what its thread freed. libuv's worker
 *   threads run SQLite's queries and the password hashes; their arenas held
 *   30–80 MB of freed memory under the bench. Two arenas bound that.
 * - Mapping threshold: glibc maps a large block (a password hash's 19 MiB)
 *   on its own and unmaps it when freed, but after the first such free it
 *   raises the threshold past that size (up to 32 MiB), so every later hash
 *   block stays in an arena for good. A fixed 4 MiB keeps such blocks mapped
 *   and returned: about 40 MB less at the bench's peak, for about 15 ms more
 *   per password hash (the fresh pages).
 */
export const MALLOC_SETTINGS: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: "2",
  MALLOC_MMAP_THRESHOLD_: String(4 * 1024 * 1024),
};

/** Each setting's name in GLIBC_TUNABLES, where an operator may have set it instead. */
const TUNABLES: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: "glibc.malloc.arena_max",
  MALLOC_MMAP_THRESHOLD_: "glibc.malloc.mmap_threshold",
};

/**
 * The environment to start this node again with, or undefined when it
 * already has every setting (or is not on Linux). A setting the operator
 * made, as a variable or in GLIBC_TUNABLES, is left as it is.
 */
export function environmentWithMallocSettings(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): NodeJS.ProcessEnv | undefined {
  if (platform !== "linux") return undefined;
  const missing = Object.entries(MALLOC_SETTINGS).filter(
    ([name]) => env[name] === undefined && !env.GLIBC_TUNABLES?.includes(TUNABLES[name]),
  );
  return missing.length ? { ...env, ...Object.fromEntries(missing) } : undefined;
}
