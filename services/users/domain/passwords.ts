import { randomBytes } from "node:crypto";
import os from "node:os";
import * as argon2 from "argon2";
import { ConcurrencyLimit } from "../../../lib/concurrency/concurrency-limit";

/**
 * Argon2id hashing. Parameters are OWASP's first recommended set (19 MiB,
 * 2 passes, 1 lane): about 80 ms on our 2-core machines, which keeps login
 * cheap for us and expensive for an offline attacker. Hashes made with other
 * parameters still verify; `needsRehash` tells when to upgrade one.
 */
const HASH_OPTIONS = {
  type: argon2.argon2id,
  memoryCost: 19 * 1024,
  timeCost: 2,
  parallelism: 1,
} as const;

/**
 * How many hashes or verifications run at once. Each holds one of libuv's
 * worker threads (4 unless UV_THREADPOOL_SIZE says otherwise, shared with
 * SQLite and file work) and writes 19 MiB that malloc keeps for the next one:
 * a burst of logins queues here and leaves two threads for the rest of the
 * node, and at most this many blocks of 19 MiB stay allocated
 * (docs/performance.md, Memory). More than the cores would not hash faster.
 */
export function hashesAtOnce(
  cores = os.availableParallelism(),
  threadPool = Number(process.env.UV_THREADPOOL_SIZE) || 4,
): number {
  return Math.max(1, Math.min(cores, threadPool - 2));
}

const hashing = new ConcurrencyLimit(hashesAtOnce());

export function hashPassword(password: string): Promise<string> {
  return hashing.run(() => argon2.hash(password, HASH_OPTIONS));
}

let dummyHash: Promise<string> | undefined;

/** A hash of a random secret: unknown accounts are verified against it so they cost the same time. */
function dummyHashOnce(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(32).toString("base64url"));
  return dummyHash;
}

/** Computes the dummy hash ahead of the first login, so that login is not slower than the rest. */
export async function warmUpPasswordHashing(): Promise<void> {
  await dummyHashOnce();
}

/**
 * True when `password` matches `hash`. With no hash (unknown account) it
 * still runs a full verification against a dummy hash and answers false, so
 * the response time does not tell whether the account exists.
 */
export async function verifyPassword(hash: string | undefined, password: string): Promise<boolean> {
  const target = hash ?? (await dummyHashOnce());
  let matches: boolean;
  try {
    matches = await hashing.run(() => argon2.verify(target, password));
  } catch {
    // A malformed stored hash verifies nothing.
    matches = false;
  }
  return hash !== undefined && matches;
}

export function passwordHashNeedsUpgrade(hash: string): boolean {
  return argon2.needsRehash(hash, {
    memoryCost: HASH_OPTIONS.memoryCost,
    timeCost: HASH_OPTIONS.timeCost,
    parallelism: HASH_OPTIONS.parallelism,
  });
}
