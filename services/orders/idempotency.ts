import { createHash, randomUUID } from "node:crypto";
import { QueryTypes, Transaction } from "sequelize";
import { AppError } from "../../lib/errors";
import type { RelationalDatabase } from "../../lib/infra/relational";
import { isUniqueViolation } from "../../lib/infra/relational/errors";

/**
 * Idempotency keys of POST /orders (`Idempotency-Key` header), per user:
 *  - the first request with a key claims it (a row `in_progress`);
 *  - its order and the key's completion (the response to replay) commit in
 *    one transaction, so a completed key always has its order;
 *  - the same key again with the same request answers the stored response;
 *    with a different request, 422;
 *  - a request that finds the key claimed waits briefly for the response,
 *    then answers 409; a claim left by a crashed node lapses after a lease;
 *  - a request that fails before an order exists gives the key back;
 *  - keys are kept IDEMPOTENCY_TTL_SEC, then purged by the sweeper.
 */
export const MAX_KEY_LENGTH = 255;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** The key the gateway copied from the header; 400 when missing or unusable. */
export function idempotencyKeyFrom(meta: { idempotencyKey?: string }): string {
  const key = meta.idempotencyKey?.trim();
  const problem = !key
    ? "is required: send a unique key (e.g. a UUID) per order you mean to place"
    : key.length > MAX_KEY_LENGTH
      ? `must be at most ${MAX_KEY_LENGTH} characters`
      : !PRINTABLE_ASCII.test(key)
        ? "must be printable ASCII"
        : undefined;
  if (problem)
    throw AppError.validation(`Idempotency-Key header ${problem}`, [
      { field: "Idempotency-Key", message: problem },
    ]);
  return key!;
}

/** JSON with object keys sorted at every level: equal values, equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
}

/** SHA-256 (hex) of the canonical JSON of a request: what "the same body" means. */
export function requestHash(request: unknown): string {
  return createHash("sha256").update(canonicalJson(request)).digest("hex");
}

export interface StoredResponse {
  status: number;
  body: unknown;
  orderId: string;
}

/** The caller may go ahead (holding `token`), or must answer the stored response. */
export type KeyClaim =
  { kind: "new"; token: string } | { kind: "replay"; response: StoredResponse };

export interface IdempotencyOptions {
  /** How long a key is remembered. */
  ttlMs: number;
  /** How long a claim lasts before another request may take the key over (a crashed node). */
  leaseMs?: number;
  /** Waiting for a concurrent request with the same key: pause and number of looks. */
  pollMs?: number;
  polls?: number;
  now?: () => number;
}

interface KeyRow {
  request_hash: string;
  status: "in_progress" | "completed";
  claimed_until: number | string | null;
  order_id: string | null;
  response_status: number | string | null;
  response_body: string | null;
  expires_at: number | string;
}

type Attempt = KeyClaim | { kind: "busy" } | { kind: "again" };

export class IdempotencyKeys {
  private readonly ttlMs: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly polls: number;
  private readonly now: () => number;
  private readonly mysql: boolean;

  constructor(
    private readonly db: Pick<RelationalDatabase, "sequelize" | "transaction" | "singleStatement">,
    opts: IdempotencyOptions,
  ) {
    this.ttlMs = opts.ttlMs;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.pollMs = opts.pollMs ?? 100;
    this.polls = opts.polls ?? 30;
    this.now = opts.now ?? Date.now;
    this.mysql = db.sequelize.getDialect() === "mysql";
  }

  /** Claims the key for this request, or returns the response to replay; 422 / 409 otherwise. */
  async claim(userId: string, key: string, hash: string): Promise<KeyClaim> {
    // Most keys are new: one INSERT claims them, with no transaction around it.
    const token = randomUUID();
    const inserted = await this.db.singleStatement((tx) =>
      this.insert(tx, userId, key, hash, token, this.now()),
    );
    if (inserted) return { kind: "new", token };
    for (let look = 1; ; look++) {
      // The first look follows the INSERT that just failed: the key exists, read it.
      const attempt = await this.db.transaction((tx) =>
        this.tryClaim(tx, userId, key, hash, look > 1),
      );
      if (attempt.kind === "new" || attempt.kind === "replay") return attempt;
      if (look >= this.polls)
        throw AppError.conflict(
          "A request with this Idempotency-Key is in progress; retry in a moment",
          [{ field: "Idempotency-Key", message: "request in progress" }],
        );
      if (attempt.kind === "busy") await sleep(this.pollMs);
    }
  }

  /** Marks the key completed with its response, in the order's transaction; throws if the claim was lost. */
  async complete(
    tx: Transaction,
    userId: string,
    key: string,
    token: string,
    response: StoredResponse,
  ): Promise<void> {
    const affected = await this.update(
      tx,
      `UPDATE idempotency_keys SET status = 'completed', claim_token = NULL, claimed_until = NULL,
         order_id = ?, response_status = ?, response_body = ?
       WHERE user_id = ? AND idem_key = ? AND claim_token = ? AND status = 'in_progress'`,
      [response.orderId, response.status, JSON.stringify(response.body), userId, key, token],
    );
    if (affected !== 1)
      throw AppError.conflict("Another request took over this Idempotency-Key", [
        { field: "Idempotency-Key", message: "request in progress" },
      ]);
  }

  /** Gives the key back after a request that failed before placing an order. */
  async release(userId: string, key: string, token: string): Promise<void> {
    await this.db.transaction((tx) =>
      this.update(
        tx,
        "DELETE FROM idempotency_keys WHERE user_id = ? AND idem_key = ? AND claim_token = ? AND status = 'in_progress'",
        [userId, key, token],
      ),
    );
  }

  /** Deletes keys past their time to live; returns how many. */
  purgeExpired(): Promise<number> {
    return this.db.transaction((tx) =>
      this.update(tx, "DELETE FROM idempotency_keys WHERE expires_at <= ?", [this.now()]),
    );
  }

  private async tryClaim(
    tx: Transaction,
    userId: string,
    key: string,
    hash: string,
    insertFirst: boolean,
  ): Promise<Attempt> {
    const now = this.now();
    const token = randomUUID();
    if (insertFirst && (await this.insert(tx, userId, key, hash, token, now)))
      return { kind: "new", token };
    const row = await this.find(tx, userId, key);
    // Released or purged meanwhile: try to claim it again.
    if (!row) return { kind: "again" };
    if (Number(row.expires_at) <= now) {
      await this.update(
        tx,
        "DELETE FROM idempotency_keys WHERE user_id = ? AND idem_key = ? AND expires_at <= ?",
        [userId, key, now],
      );
      return { kind: "again" };
    }
    if (row.request_hash !== hash)
      throw AppError.unprocessable(
        "This Idempotency-Key was already used with a different request; use a new key for a new order",
      );
    if (row.status === "completed") return { kind: "replay", response: storedResponse(row) };
    if (row.claimed_until != null && Number(row.claimed_until) < now) {
      const taken = await this.update(
        tx,
        `UPDATE idempotency_keys SET claim_token = ?, claimed_until = ?
         WHERE user_id = ? AND idem_key = ? AND status = 'in_progress' AND claimed_until < ?`,
        [token, now + this.leaseMs, userId, key, now],
      );
      if (taken === 1) return { kind: "new", token };
    }
    return { kind: "busy" };
  }

  /** False when the key exists (the primary key is the guard between concurrent requests). */
  private async insert(
    tx: Transaction | undefined,
    userId: string,
    key: string,
    hash: string,
    token: string,
    now: number,
  ): Promise<boolean> {
    try {
      await this.db.sequelize.query(
        `INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status, claim_token, claimed_until, created_at, expires_at)
         VALUES (?, ?, ?, 'in_progress', ?, ?, ?, ?)`,
        {
          replacements: [userId, key, hash, token, now + this.leaseMs, now, now + this.ttlMs],
          type: QueryTypes.INSERT,
          transaction: tx,
        },
      );
      return true;
    } catch (err) {
      // A failed INSERT leaves the transaction usable on MySQL and SQLite.
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  /** A shared lock on MySQL: the failed insert holds one already, and it reads the latest commit. */
  private async find(tx: Transaction, userId: string, key: string): Promise<KeyRow | undefined> {
    const [row] = await this.db.sequelize.query<KeyRow>(
      `SELECT request_hash, status, claimed_until, order_id, response_status, response_body, expires_at
       FROM idempotency_keys WHERE user_id = ? AND idem_key = ?${this.mysql ? " LOCK IN SHARE MODE" : ""}`,
      { replacements: [userId, key], type: QueryTypes.SELECT, transaction: tx },
    );
    return row;
  }

  private async update(tx: Transaction, sql: string, replacements: unknown[]): Promise<number> {
    const [, affected] = (await this.db.sequelize.query(sql, {
      replacements,
      type: QueryTypes.UPDATE,
      transaction: tx,
    })) as [unknown, number];
    return Number(affected);
  }
}

function storedResponse(row: KeyRow): StoredResponse {
  return {
    status: Number(row.response_status),
    body: JSON.parse(row.response_body ?? "null"),
    orderId: row.order_id ?? "",
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
