import { randomUUID } from "node:crypto";
import { DataTypes, QueryTypes, Transaction } from "sequelize";
import type { Migration, RelationalDatabase } from "../infra/relational";
import { currentRequestContext } from "../observability/request-context";
import { TraceParent, traceParentOf } from "../observability/tracing";
import {
  createEnvelope,
  headersFor,
  MessageEnvelope,
  MessageHeaders,
  MessageMeta,
} from "./envelope";
import { mediumText } from "./sql-types";
import type { Topic } from "./topics";

/**
 * Transactional outbox (ARCHITECTURE §4, §5.2). A service writes the messages
 * it emits into its own database, in the transaction that changes its state;
 * a relay publishes them right after commit and a sweeper republishes what a
 * crash left behind. So a committed change always gets its messages out (at
 * least once), and a rolled-back one never does.
 *
 *  - Batches: the relay works on up to BATCH rows at a time, across
 *    aggregates (a bulk import commits hundreds at once): a few statements
 *    per batch, not per row, and different aggregates published concurrently.
 *  - Order: rows of one aggregate are published in insertion order; a row
 *    waits while an earlier row of its aggregate is unpublished.
 *  - Several nodes of a service may relay and sweep at once: a row is claimed
 *    (claimed_until) before it is published, so duplicates are rare; they are
 *    still possible (a claim that expires mid-publish, a crash between publish
 *    and mark), which is why consumers are idempotent (inbox.ts).
 *  - A transaction's rows are inserted already claimed for the relay of the
 *    node that writes them, which publishes them after commit from memory:
 *    two statements (which rows are still held and what else of their
 *    aggregates waits; the mark), where rows found in the table take five.
 *  - A row is marked published only after the channel adapter accepted it.
 *    A failed publish is logged and counted on the row; the sweeper retries.
 * Times are epoch milliseconds so comparisons mean the same on SQLite and MySQL.
 */

export const OUTBOX_TABLE = "outbox_events";

export const outboxMigrations: Migration[] = [
  {
    name: "platform-0001-outbox-events",
    async up(qi, sequelize) {
      await qi.createTable(OUTBOX_TABLE, {
        // Insertion order: what "in order per aggregate" means.
        id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
        message_id: { type: DataTypes.STRING(36), allowNull: false, unique: true },
        topic: { type: DataTypes.STRING(200), allowNull: false },
        type: { type: DataTypes.STRING(100), allowNull: false },
        aggregate_id: { type: DataTypes.STRING(100), allowNull: false },
        envelope: { type: mediumText(sequelize), allowNull: false },
        headers: { type: DataTypes.TEXT, allowNull: false },
        created_at: { type: DataTypes.BIGINT, allowNull: false },
        published_at: { type: DataTypes.BIGINT, allowNull: true },
        /** Publish attempts that finished (a crash mid-attempt is not counted). */
        attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
        last_error: { type: DataTypes.TEXT, allowNull: true },
        claimed_until: { type: DataTypes.BIGINT, allowNull: true },
        claim_token: { type: DataTypes.STRING(36), allowNull: true },
      });
      await qi.addIndex(OUTBOX_TABLE, ["published_at", "created_at"], {
        name: "outbox_events_unpublished",
      });
      await qi.addIndex(OUTBOX_TABLE, ["aggregate_id", "published_at", "id"], {
        name: "outbox_events_aggregate",
      });
      await qi.addIndex(OUTBOX_TABLE, ["claim_token"], { name: "outbox_events_claim" });
    },
    async down(qi) {
      await qi.dropTable(OUTBOX_TABLE);
    },
  },
];

/** What a service asks the outbox to send. */
export interface OutboxMessageInput {
  topic: Topic;
  type: string;
  aggregateId: string;
  payload: object;
  version?: number;
  sagaId?: string;
}

/** The calling Moleculer context, or anything with its requestID and meta. */
export interface MessageOrigin {
  requestID?: string | null;
  meta?: object;
  /** A Moleculer context's active span (tracing on). */
  span?: { id: string; traceID: string; sampled: boolean } | null;
}

/** Where a message comes from: the request or saga it belongs to, and the message that caused it. */
export interface MessageLineage {
  correlationId?: string;
  causationId?: string;
  sagaId?: string;
  /** The span that sends it (tracing on): the consumer's span will be its child. */
  trace?: TraceParent;
}

/**
 * The lineage of a message caused by `origin` (ctx.meta.correlationId, else
 * ctx.requestID), else by the request context of the calling code; causation
 * is the message being handled (ctx.meta.messageId, set by durableChannel);
 * the trace parent is the origin's active span, else the calling code's.
 */
export function lineageOf(origin?: MessageOrigin, sagaId?: string): MessageLineage {
  const meta = (origin?.meta ?? {}) as MessageMeta;
  const context = currentRequestContext();
  const lineage: MessageLineage = {
    correlationId:
      meta.correlationId ??
      origin?.requestID ??
      context?.correlationId ??
      context?.requestId ??
      undefined,
    causationId: meta.messageId,
    sagaId: sagaId ?? meta.sagaId ?? context?.sagaId,
  };
  const trace = traceParentOf(origin) ?? context?.trace;
  // Absent rather than undefined: callers store lineages as they are.
  if (trace) lineage.trace = trace;
  return lineage;
}

/** A row ready to go on the wire. */
export interface OutboxMessage {
  /** Row id (insertion order). */
  id: number;
  topic: Topic;
  aggregateId: string;
  envelope: MessageEnvelope;
  headers: MessageHeaders;
  attempts: number;
}

export type PublishFn = (message: OutboxMessage) => Promise<void>;

export interface OutboxLogger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export interface OutboxStatus {
  unpublished: number;
  /** Age of the oldest unpublished row; 0 when nothing waits. */
  oldestUnpublishedAgeMs: number;
}

interface Row {
  id: number;
  message_id: string;
  topic: string;
  type: string;
  aggregate_id: string;
  envelope: string;
  headers: string;
  attempts: number;
}

/** A row as enqueued, before the database numbered it. */
export type NewRow = Omit<Row, "id" | "attempts">;

/** The row that carries `envelope` to `topic`. */
export function outboxRow(
  envelope: MessageEnvelope,
  topic: Topic,
  headers: MessageHeaders,
): NewRow {
  return {
    message_id: envelope.id,
    topic,
    type: envelope.type,
    aggregate_id: envelope.aggregateId,
    envelope: JSON.stringify(envelope),
    headers: JSON.stringify(headers),
  };
}

/** A relay's hold on rows: nobody else publishes them before `until` (epoch ms). */
interface Claim {
  token: string;
  until: number;
}

/**
 * The rows one transaction enqueued, claimed for this relay by their insert:
 * after commit the relay publishes them from here, without finding, claiming
 * and reading them again (see Outbox.relayCommitted).
 */
interface HeldWrite {
  claim: Claim;
  rows: NewRow[];
}

/** What became of a claim's rows; those in none of the lists stay claimed (a "crash"). */
interface BatchOutcome {
  published: number[];
  failed: { id: number; error: unknown }[];
  /** Held but not published: given back for a later batch. */
  unsent: number[];
}

/** Nobody is publishing the row: not published, and not claimed (or the claim expired). */
const CLAIMABLE = "published_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?)";

/** SQL over the outbox table. Every statement is valid on SQLite and MySQL/MariaDB. */
export class OutboxStore {
  constructor(private readonly db: RelationalDatabase) {}

  /**
   * Inserts the rows in one statement, in the order given (their ids follow
   * it), claimed by `claim` when given.
   */
  async insert(tx: Transaction, rows: NewRow[], claim?: Claim): Promise<void> {
    if (!rows.length) return;
    const now = Date.now();
    await this.db.sequelize.query(
      `INSERT INTO ${OUTBOX_TABLE} (message_id, topic, type, aggregate_id, envelope, headers, created_at, attempts, claimed_until, claim_token)
       VALUES ${rows.map(() => "(?, ?, ?, ?, ?, ?, ?, 0, ?, ?)").join(", ")}`,
      {
        replacements: rows.flatMap((row) => [
          row.message_id,
          row.topic,
          row.type,
          row.aggregate_id,
          row.envelope,
          row.headers,
          now,
          claim?.until ?? null,
          claim?.token ?? null,
        ]),
        transaction: tx,
        type: QueryTypes.INSERT,
      },
    );
  }

  /**
   * In one statement: the ids of the rows the claims `tokens` still hold,
   * and, for each of the aggregates that has one, its first unpublished row
   * that none of them holds.
   */
  async heldAndFirstUnheld(
    tokens: string[],
    aggregateIds: string[],
  ): Promise<{ held: Map<string, number>; firstUnheld: Map<string, number> }> {
    const rows = await this.select<{
      id: number | string;
      message_id: string | null;
      aggregate_id: string;
    }>(
      `SELECT id, message_id, aggregate_id FROM ${OUTBOX_TABLE} WHERE claim_token IN (?)
       UNION ALL
       SELECT MIN(id), NULL, aggregate_id FROM ${OUTBOX_TABLE}
       WHERE aggregate_id IN (?) AND published_at IS NULL
         AND (claim_token IS NULL OR claim_token NOT IN (?))
       GROUP BY aggregate_id`,
      [tokens, aggregateIds, tokens],
    );
    const held = new Map<string, number>();
    const firstUnheld = new Map<string, number>();
    for (const row of rows) {
      if (row.message_id === null) firstUnheld.set(row.aggregate_id, Number(row.id));
      else held.set(row.message_id, Number(row.id));
    }
    return { held, firstUnheld };
  }

  /** Ids of the aggregates' rows nobody holds, above `afterId`, oldest first. */
  claimableOf(aggregateIds: string[], afterId: number, now: number, limit: number) {
    return this.ids(
      `SELECT id FROM ${OUTBOX_TABLE} WHERE aggregate_id IN (?) AND ${CLAIMABLE} AND id > ? ORDER BY id LIMIT ?`,
      [aggregateIds, now, afterId, limit],
    );
  }

  /**
   * Aggregates with a row unpublished since before `createdBefore` that
   * nobody holds, by their first such row, oldest first, above `afterId`.
   */
  async staleAggregates(
    createdBefore: number,
    afterId: number,
    now: number,
    limit: number,
  ): Promise<{ aggregateId: string; firstId: number }[]> {
    const rows = await this.select<{ aggregate_id: string; first_id: number | string }>(
      `SELECT aggregate_id, MIN(id) AS first_id FROM ${OUTBOX_TABLE}
       WHERE created_at <= ? AND ${CLAIMABLE}
       GROUP BY aggregate_id HAVING MIN(id) > ? ORDER BY first_id LIMIT ?`,
      [createdBefore, now, afterId, limit],
    );
    return rows.map((r) => ({ aggregateId: r.aggregate_id, firstId: Number(r.first_id) }));
  }

  /**
   * Claims those of `ids` nobody holds for `ttlMs`, in one statement (an
   * UPDATE … LIMIT would not run on SQLite); returns the rows the claim got,
   * oldest first, and when it ends (timed from when the write got its turn).
   * The rows are read after the claim committed: its token is this relay's
   * alone, and nobody else changes a row while the claim holds it.
   */
  async claim(
    ids: number[],
    token: string,
    ttlMs: number,
  ): Promise<{ rows: Row[]; claimedUntil: number }> {
    const claimedUntil = await this.writeOne(async (transaction) => {
      const now = Date.now();
      await this.db.sequelize.query(
        `UPDATE ${OUTBOX_TABLE} SET claimed_until = ?, claim_token = ? WHERE id IN (?) AND ${CLAIMABLE}`,
        { replacements: [now + ttlMs, token, ids, now], transaction },
      );
      return now + ttlMs;
    });
    const rows = await this.select<Row>(
      `SELECT id, message_id, topic, type, aggregate_id, envelope, headers, attempts
       FROM ${OUTBOX_TABLE} WHERE claim_token = ? ORDER BY id`,
      [token],
    );
    return {
      rows: rows.map((r) => ({ ...r, id: Number(r.id), attempts: Number(r.attempts) })),
      claimedUntil,
    };
  }

  /**
   * Moves the rows the claims `tokens` hold to a new claim `token` lasting
   * `ttlMs`, expired or not: a claim nobody else took still has its token
   * (taking a row, publishing it or failing it changes or clears the token).
   */
  async renewClaims(tokens: string[], token: string, ttlMs: number): Promise<number> {
    return this.writeOne(async (transaction) => {
      const now = Date.now();
      await this.db.sequelize.query(
        `UPDATE ${OUTBOX_TABLE} SET claimed_until = ?, claim_token = ? WHERE claim_token IN (?)`,
        { replacements: [now + ttlMs, token, tokens], transaction },
      );
      return now + ttlMs;
    });
  }

  /**
   * For each of the aggregates that has one, its first unpublished row below
   * `belowId` that the claim `token` does not hold.
   */
  async firstUnheld(
    aggregateIds: string[],
    token: string,
    belowId: number,
  ): Promise<Map<string, number>> {
    const rows = await this.select<{ aggregate_id: string; first_id: number | string }>(
      `SELECT aggregate_id, MIN(id) AS first_id FROM ${OUTBOX_TABLE}
       WHERE aggregate_id IN (?) AND published_at IS NULL AND id < ?
         AND (claim_token IS NULL OR claim_token <> ?)
       GROUP BY aggregate_id`,
      [aggregateIds, belowId, token],
    );
    return new Map(rows.map((r) => [r.aggregate_id, Number(r.first_id)]));
  }

  /**
   * Records what became of a claim's rows, in one transaction: published
   * ones marked, failures counted on their row (which frees it), and rows to
   * give back freed (unless the claim expired and moved on). The usual
   * outcome, all published, is one statement and needs no transaction.
   */
  async settle(tokens: string[], outcome: BatchOutcome): Promise<void> {
    const { published, failed, unsent } = outcome;
    const statements: [sql: string, replacements: unknown[]][] = [];
    if (published.length)
      statements.push([
        `UPDATE ${OUTBOX_TABLE} SET published_at = ?, attempts = attempts + 1, claimed_until = NULL, claim_token = NULL WHERE id IN (?)`,
        [Date.now(), published],
      ]);
    for (const { id, error } of failed)
      statements.push([
        `UPDATE ${OUTBOX_TABLE} SET attempts = attempts + 1, last_error = ?, claimed_until = NULL, claim_token = NULL WHERE id = ?`,
        [errorText(error), id],
      ]);
    if (unsent.length)
      statements.push([
        `UPDATE ${OUTBOX_TABLE} SET claimed_until = NULL, claim_token = NULL WHERE claim_token IN (?) AND id IN (?)`,
        [tokens, unsent],
      ]);
    const runAll = async (transaction: Transaction | undefined) => {
      for (const [sql, replacements] of statements)
        await this.db.sequelize.query(sql, { replacements, transaction });
    };
    if (statements.length === 1) await this.writeOne(runAll);
    else if (statements.length > 1) await this.write(runAll);
  }

  async status(now = Date.now()): Promise<OutboxStatus> {
    const [row] = await this.select<{ n: number | string; oldest: number | string | null }>(
      `SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM ${OUTBOX_TABLE} WHERE published_at IS NULL`,
      [],
    );
    const oldest = row?.oldest == null ? null : Number(row.oldest);
    return {
      unpublished: Number(row?.n ?? 0),
      oldestUnpublishedAgeMs: oldest == null ? 0 : Math.max(0, now - oldest),
    };
  }

  /** A write like the relay's: on MySQL this range delete can be a deadlock victim, run again. */
  async purgePublished(before: number): Promise<void> {
    await this.writeOne((transaction) =>
      this.db.sequelize.query(
        `DELETE FROM ${OUTBOX_TABLE} WHERE published_at IS NOT NULL AND published_at < ?`,
        { replacements: [before], transaction },
      ),
    );
  }

  private async ids(sql: string, replacements: unknown[]): Promise<number[]> {
    const rows = await this.select<{ id: number | string }>(sql, replacements);
    return rows.map((r) => Number(r.id));
  }

  /**
   * The relay's writes go through db.transaction: on SQLite that queues them
   * in process with the service's own transactions, where a plain statement
   * would wait in SQLite's busy handler and lose the lock to them for seconds
   * during a bulk import; on MySQL it retries a deadlock. A write of one
   * statement needs no transaction on MySQL (writeOne).
   */
  private write<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  private writeOne<T>(fn: (tx: Transaction | undefined) => Promise<T>): Promise<T> {
    return this.db.singleStatement(fn);
  }

  private select<T extends object>(sql: string, replacements: unknown[]): Promise<T[]> {
    return this.db.sequelize.query<T>(sql, { replacements, type: QueryTypes.SELECT });
  }
}

export interface OutboxOptions {
  db: RelationalDatabase;
  /** Producing service: the `source` header. */
  service: string;
  publish: PublishFn;
  logger: OutboxLogger;
  /** How often the sweeper runs (config.outboxSweepIntervalMs). */
  sweepIntervalMs: number;
  /**
   * How long a row is left to the relay of the node that wrote it (and how
   * long any claim lasts) before the sweeper takes it (config.outboxSweepAgeMs).
   */
  sweepAgeMs: number;
  /**
   * How long a claim on a row lasts (default sweepAgeMs); keep it above the
   * time a batch takes to publish, or another node may publish rows again.
   */
  claimTtlMs?: number;
  /**
   * Test seam: runs after a message was published and before it is marked.
   * Throwing simulates the relay dying right there: the row (and the rest of
   * its aggregate in the batch) stays unpublished and claimed until the claim
   * expires, then the sweeper publishes it again. Other aggregates go on.
   */
  afterPublish?: (message: OutboxMessage) => void | Promise<void>;
  /**
   * True while the node shuts down. Consumers stop before producers, so a
   * publish that fails then is expected (the row waits for the next start's
   * sweep) and is logged at info, not as a warning per message.
   */
  stopping?: () => boolean;
}

/** Rows claimed, published and marked together; also kicked (or stale) aggregates taken at a time. */
const BATCH = 500;
/** Aggregates of a batch published at once (each one's rows stay in order). */
const PUBLISH_CONCURRENCY = 16;
/** Drains of one relay running at once (see drain). */
const DRAIN_LANES = 4;
/** Published rows are kept this long for inspection, then deleted by the sweeper. */
const RETENTION_MS = 7 * 24 * 3600_000;
const PURGE_EVERY_MS = 3600_000;

/** Outbox of one service on one node: enqueue, relay after commit, sweeper. */
export class Outbox {
  readonly store: OutboxStore;
  /** Aggregates to look at for claimable rows (a set: repeated kicks coalesce). */
  private readonly kicked = new Set<string>();
  /** Committed writes waiting for a lane, oldest first. */
  private readonly committed: HeldWrite[] = [];
  /** What each open transaction enqueued: one claim, and one relay after commit. */
  private readonly written = new WeakMap<Transaction, HeldWrite>();
  private timer?: NodeJS.Timeout;
  /** Drains running now, each over its own aggregates (see drain). */
  private readonly lanes = new Set<Promise<void>>();
  /** Aggregates a lane is relaying: no other lane of this node takes them meanwhile. */
  private readonly relaying = new Set<string>();
  private sweeping?: Promise<void>;
  private lastPurge = 0;
  private stopped = false;
  /** Rows this relay marked published (lets a sweep see whether it is getting anywhere). */
  private published = 0;

  constructor(private readonly opts: OutboxOptions) {
    this.store = new OutboxStore(opts.db);
  }

  /**
   * Adds a message to `tx`. After the transaction commits the relay publishes
   * it; if it rolls back, the message never existed. Correlation comes from
   * `origin` (ctx.meta.correlationId, else ctx.requestID), else from the
   * request context of the calling code; causation is the message being
   * handled (ctx.meta.messageId, set by durableChannel).
   */
  async enqueue(
    tx: Transaction,
    message: OutboxMessageInput,
    origin?: MessageOrigin,
  ): Promise<string> {
    const [id] = await this.enqueueAll(tx, [message], origin);
    return id;
  }

  /**
   * Adds several messages to `tx` in one statement, published in the order
   * given (as if enqueued one by one); resolves with their message ids.
   */
  async enqueueAll(
    tx: Transaction,
    messages: readonly OutboxMessageInput[],
    origin?: MessageOrigin,
  ): Promise<string[]> {
    const rows = messages.map((message) => {
      const envelope = createEnvelope({
        type: message.type,
        aggregateId: message.aggregateId,
        payload: message.payload,
        version: message.version,
      });
      const headers = headersFor(envelope, {
        source: this.opts.service,
        ...lineageOf(origin, message.sagaId),
      });
      return outboxRow(envelope, message.topic, headers);
    });
    // A stopped relay would not publish them: left unclaimed, the sweepers take them.
    const write = this.stopped ? undefined : this.heldWriteOf(tx);
    await this.store.insert(tx, rows, write?.claim);
    write?.rows.push(...rows);
    return rows.map((r) => r.message_id);
  }

  status(): Promise<OutboxStatus> {
    return this.store.status();
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => void this.sweep(), this.opts.sweepIntervalMs);
    this.timer.unref();
  }

  /** Stops the sweeper and waits for publishing in progress; rows left wait for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.all([this.sweeping, ...this.lanes]);
  }

  /** Publishes the aggregates' unpublished rows; resolves once a drain has been through them. */
  kick(...aggregateIds: string[]): Promise<void> {
    if (this.stopped) return Promise.resolve();
    for (const id of aggregateIds) this.kicked.add(id);
    return this.drain();
  }

  /** One sweep: kicks every aggregate with a stale unpublished row nobody holds, oldest first. */
  sweep(): Promise<void> {
    if (this.sweeping || this.stopped) return this.sweeping ?? Promise.resolve();
    this.sweeping = this.sweepOnce()
      .catch((err) => this.opts.logger.error("Outbox sweep failed", err))
      .finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  /**
   * The claim and rows of `tx`, relayed after it commits. The claim starts
   * with the first insert, and is the one a relay takes (claimTtlMs): if this
   * node dies before publishing, the rows wait for it to expire, then a
   * sweeper takes them, as it takes any row left unpublished.
   */
  private heldWriteOf(tx: Transaction): HeldWrite {
    let write = this.written.get(tx);
    if (!write) {
      const claim = { token: randomUUID(), until: Date.now() + this.claimTtlMs() };
      const held: HeldWrite = { claim, rows: [] };
      this.written.set(tx, (write = held));
      // Not awaited: commit must not wait for consumers (the in-process adapter
      // delivers inside publish), and the relay needs the connection tx holds.
      tx.afterCommit(() => void this.relayCommitted(held));
    }
    return write;
  }

  private claimTtlMs(): number {
    return this.opts.claimTtlMs ?? this.opts.sweepAgeMs;
  }

  /** Queues a committed write for a lane; resolves once the lanes have been through it. */
  private relayCommitted(write: HeldWrite): Promise<void> {
    if (this.stopped || !write.rows.length) return Promise.resolve();
    this.committed.push(write);
    return this.drain();
  }

  /**
   * Up to DRAIN_LANES drains run at once, each over aggregates no other lane
   * holds: a batch waiting on a slow consumer (the in-process adapter
   * delivers inside publish) does not hold up other aggregates' messages, and
   * one aggregate's messages still go out in order. Resolves once the lanes
   * have been through everything kicked so far.
   */
  private drain(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const queued = () => this.kicked.size > 0 || this.committed.length > 0;
    if (queued() && this.lanes.size < DRAIN_LANES) this.startLane();
    if (!this.lanes.size) return Promise.resolve();
    return Promise.all([...this.lanes]).then(() =>
      queued() && !this.stopped ? this.drain() : undefined,
    );
  }

  private startLane(): void {
    const lane: Promise<void> = this.drainQueued()
      .catch((err) => this.opts.logger.error("Outbox relay failed", err))
      .finally(() => this.lanes.delete(lane));
    this.lanes.add(lane);
  }

  /** Committed writes first (they are cheap to relay), then kicked aggregates. */
  private async drainQueued(): Promise<void> {
    while (!this.stopped) {
      const writes = this.takeCommitted();
      if (writes.length) {
        const aggregates = aggregatesOf(writes.flatMap((w) => w.rows));
        await this.holding(aggregates, (ids) => this.relayWrites(writes, ids));
        continue;
      }
      const taken = this.takeKicked();
      if (!taken.length) return;
      await this.holding(taken, (ids) => this.relayAggregates(ids));
    }
  }

  /** Runs `relay` with `aggregates` marked as this lane's, so no other lane takes them. */
  private async holding(
    aggregates: string[],
    relay: (aggregates: string[]) => Promise<void>,
  ): Promise<void> {
    for (const id of aggregates) this.relaying.add(id);
    try {
      await relay(aggregates);
    } finally {
      for (const id of aggregates) this.relaying.delete(id);
    }
  }

  /**
   * Committed writes, oldest first, up to BATCH rows, whose aggregates no
   * lane is relaying and no write left waiting has (so one aggregate's
   * writes go out in commit order).
   */
  private takeCommitted(): HeldWrite[] {
    const taken: HeldWrite[] = [];
    const busy = new Set(this.relaying);
    let rows = 0;
    for (let i = 0; i < this.committed.length && rows < BATCH;) {
      const write = this.committed[i];
      const aggregates = aggregatesOf(write.rows);
      const free = aggregates.every((id) => !busy.has(id));
      for (const id of aggregates) busy.add(id);
      if (!free) {
        i++;
        continue;
      }
      this.committed.splice(i, 1);
      taken.push(write);
      rows += write.rows.length;
    }
    return taken;
  }

  /** Up to BATCH kicked aggregates that no lane is relaying (those wait for their lane). */
  private takeKicked(): string[] {
    const taken: string[] = [];
    for (const id of this.kicked) {
      if (taken.length === BATCH) break;
      if (this.relaying.has(id)) continue;
      taken.push(id);
      this.kicked.delete(id);
    }
    return taken;
  }

  private async sweepOnce(): Promise<void> {
    const now = Date.now();
    for (let afterId = 0; !this.stopped;) {
      const stale = await this.store.staleAggregates(
        now - this.opts.sweepAgeMs,
        afterId,
        Date.now(),
        BATCH,
      );
      if (!stale.length) break;
      this.opts.logger.info(`Outbox sweeper: republishing for ${stale.length} aggregate(s)`);
      const publishedBefore = this.published;
      await this.kick(...stale.map((s) => s.aggregateId));
      // A page that got nothing out (channel down?) ends the sweep: the next one retries.
      if (stale.length < BATCH || this.published === publishedBefore) break;
      afterId = stale[stale.length - 1].firstId;
    }
    if (now - this.lastPurge > PURGE_EVERY_MS) {
      this.lastPurge = now;
      await this.store.purgePublished(now - RETENTION_MS);
    }
  }

  /** Publishes the aggregates' claimable rows, a batch at a time, while batches come back full. */
  private async relayAggregates(aggregates: string[]): Promise<void> {
    for (let afterId = 0; !this.stopped;) {
      const ids = await this.store.claimableOf(aggregates, afterId, Date.now(), BATCH);
      if (ids.length) await this.relayBatch(ids);
      if (ids.length < BATCH) return;
      // Past what this batch left (blocked or failed rows), so the loop ends.
      afterId = ids[ids.length - 1];
    }
  }

  /** Claims `ids`, publishes what order allows, then records the outcome. */
  private async relayBatch(ids: number[]): Promise<void> {
    const token = randomUUID();
    const { rows: held, claimedUntil } = await this.store.claim(ids, token, this.claimTtlMs());
    if (!held.length) return;
    const unheld = await this.store.firstUnheld(
      aggregatesOf(held),
      token,
      held[held.length - 1].id,
    );
    await this.publishHeld(held, unheld, [token], claimedUntil);
  }

  /**
   * Publishes committed writes from memory: one statement finds which of
   * their rows their claims still hold (a claim that expired may have been
   * taken over) and what else of their aggregates is unpublished, then the
   * rows go out as a claimed batch's do. Two statements in all, against five
   * for rows found by the kicked path.
   */
  private async relayWrites(writes: HeldWrite[], aggregates: string[]): Promise<void> {
    let tokens = writes.map((w) => w.claim.token);
    let claimedUntil = Math.min(...writes.map((w) => w.claim.until));
    if (claimedUntil - Date.now() < this.claimTtlMs() / 2) {
      // Long in the queue (or in its transaction): renewed first, so no sweeper takes them meanwhile.
      const token = randomUUID();
      claimedUntil = await this.store.renewClaims(tokens, token, this.claimTtlMs());
      tokens = [token];
    }
    const { held: ids, firstUnheld } = await this.store.heldAndFirstUnheld(tokens, aggregates);
    const held: Row[] = [];
    for (const write of writes)
      for (const row of write.rows) {
        const id = ids.get(row.message_id);
        if (id !== undefined) held.push({ ...row, id, attempts: 0 });
      }
    if (!held.length) return;
    held.sort((a, b) => a.id - b.id);
    await this.publishHeld(held, firstUnheld, tokens, claimedUntil);
  }

  /** Publishes what order allows of rows held by `tokens`, then records the outcome. */
  private async publishHeld(
    held: Row[],
    firstUnheld: Map<string, number>,
    tokens: string[],
    claimedUntil: number,
  ): Promise<void> {
    const { queues, blocked } = this.inOrder(held, firstUnheld);
    const outcome = await this.publishAll(queues);
    if (Date.now() > claimedUntil)
      this.opts.logger.warn(
        `Outbox: publishing a batch of ${held.length} outlasted its claim (${this.claimTtlMs()} ms); another node may have published some of it too`,
      );
    outcome.unsent.push(...blocked);
    await this.store.settle(tokens, outcome);
    this.published += outcome.published.length;
  }

  /**
   * The held rows (oldest first) by aggregate, cut at the aggregate's first
   * unpublished row the claim does not hold, when that is earlier (another
   * node's claim, a failed row, a row not picked): per-aggregate order holds
   * across batches and nodes. What is cut off is `blocked`, to be given back.
   */
  private inOrder(
    held: Row[],
    unheld: Map<string, number>,
  ): { queues: Row[][]; blocked: number[] } {
    const queues = new Map<string, Row[]>();
    const blocked: number[] = [];
    for (const row of held) {
      const firstUnheld = unheld.get(row.aggregate_id);
      if (firstUnheld !== undefined && firstUnheld < row.id) {
        blocked.push(row.id);
        continue;
      }
      let queue = queues.get(row.aggregate_id);
      if (!queue) queues.set(row.aggregate_id, (queue = []));
      queue.push(row);
    }
    return { queues: [...queues.values()], blocked };
  }

  /** Publishes the aggregates' queues, PUBLISH_CONCURRENCY aggregates at a time. */
  private async publishAll(queues: Row[][]): Promise<BatchOutcome> {
    const outcome: BatchOutcome = { published: [], failed: [], unsent: [] };
    let next = 0;
    const worker = async () => {
      while (next < queues.length) await this.publishInOrder(queues[next++], outcome);
    };
    const workers = Math.min(PUBLISH_CONCURRENCY, queues.length);
    await Promise.all(Array.from({ length: workers }, worker));
    return outcome;
  }

  /**
   * Publishes one aggregate's rows in order. A failure is recorded on its row
   * and leaves the rest of the aggregate unsent; a throwing afterPublish
   * leaves the row and the rest claimed, as the relay dying would.
   */
  private async publishInOrder(rows: Row[], outcome: BatchOutcome): Promise<void> {
    for (const [i, row] of rows.entries()) {
      let message: OutboxMessage;
      try {
        message = toMessage(row);
        await this.opts.publish(message);
      } catch (err) {
        const { logger, stopping } = this.opts;
        (stopping?.() ? logger.info : logger.warn).call(
          logger,
          `Outbox: publishing ${row.type} ${row.message_id} to ${row.topic} failed; the sweeper will retry`,
          err instanceof Error ? err.message : err,
        );
        outcome.failed.push({ id: row.id, error: err });
        outcome.unsent.push(...rows.slice(i + 1).map((r) => r.id));
        return;
      }
      if (this.opts.afterPublish) {
        try {
          await this.opts.afterPublish(message);
        } catch (err) {
          this.opts.logger.warn(`Outbox relay stopped after publishing ${row.message_id}`, err);
          return;
        }
      }
      outcome.published.push(row.id);
    }
  }
}

/** The distinct aggregates of `rows`, in order of first appearance. */
function aggregatesOf(rows: readonly { aggregate_id: string }[]): string[] {
  return [...new Set(rows.map((r) => r.aggregate_id))];
}

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 2000);
}

function toMessage(row: Row): OutboxMessage {
  return {
    id: row.id,
    topic: row.topic as Topic,
    aggregateId: row.aggregate_id,
    envelope: JSON.parse(row.envelope) as MessageEnvelope,
    headers: JSON.parse(row.headers) as MessageHeaders,
    attempts: row.attempts,
  };
}
