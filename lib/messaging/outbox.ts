import { randomUUID } from "node:crypto";
import { DataTypes, QueryTypes, Transaction } from "sequelize";
import type { Migration, RelationalDatabase } from "../infra/relational";
import { currentRequestContext } from "../observability/request-context";
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
 *  - Order: rows of one aggregate are published in insertion order; a row
 *    waits while an earlier row of its aggregate is unpublished.
 *  - Several nodes of a service may relay and sweep at once: a row is claimed
 *    (claimed_until) before it is published, so duplicates are rare; they are
 *    still possible (a claim that expires mid-publish, a crash between publish
 *    and mark), which is why consumers are idempotent (inbox.ts).
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
  aggregate_id: string;
  envelope: string;
  headers: string;
  attempts: number;
  published_at: number | null;
}

/** SQL over the outbox table. Every statement is valid on SQLite and MySQL/MariaDB. */
export class OutboxStore {
  constructor(private readonly db: RelationalDatabase) {}

  async insert(
    tx: Transaction,
    envelope: MessageEnvelope,
    topic: Topic,
    headers: MessageHeaders,
  ): Promise<void> {
    await this.db.sequelize.query(
      `INSERT INTO ${OUTBOX_TABLE} (message_id, topic, type, aggregate_id, envelope, headers, created_at, attempts)
       VALUES (?, ?, ?, ?, ?, ?, ?, 0)`,
      {
        replacements: [
          envelope.id,
          topic,
          envelope.type,
          envelope.aggregateId,
          JSON.stringify(envelope),
          JSON.stringify(headers),
          Date.now(),
        ],
        transaction: tx,
        type: QueryTypes.INSERT,
      },
    );
  }

  /** Unpublished rows of one aggregate, oldest first. */
  pendingOf(aggregateId: string, limit: number): Promise<Pick<Row, "id">[]> {
    return this.select(
      `SELECT id FROM ${OUTBOX_TABLE} WHERE aggregate_id = ? AND published_at IS NULL ORDER BY id LIMIT ?`,
      [aggregateId, limit],
    );
  }

  /** Aggregates with a row unpublished since before `createdBefore` that nobody holds. */
  async staleAggregates(createdBefore: number, now: number, limit: number): Promise<string[]> {
    const rows = await this.select<{ aggregate_id: string }>(
      `SELECT aggregate_id, MIN(id) AS first_id FROM ${OUTBOX_TABLE}
       WHERE published_at IS NULL AND created_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)
       GROUP BY aggregate_id ORDER BY first_id LIMIT ?`,
      [createdBefore, now, limit],
    );
    return rows.map((r) => r.aggregate_id);
  }

  /** Claims those of `ids` nobody holds; returns the claimed rows, oldest first. */
  async claim(ids: number[], token: string, now: number, until: number): Promise<Row[]> {
    await this.db.sequelize.query(
      `UPDATE ${OUTBOX_TABLE} SET claimed_until = ?, claim_token = ?
       WHERE id IN (?) AND published_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?)`,
      { replacements: [until, token, ids, now], type: QueryTypes.UPDATE },
    );
    const rows = await this.select<Row>(
      `SELECT id, message_id, topic, aggregate_id, envelope, headers, attempts, published_at
       FROM ${OUTBOX_TABLE} WHERE claim_token = ? ORDER BY id`,
      [token],
    );
    return rows.map((r) => ({ ...r, id: Number(r.id), attempts: Number(r.attempts) }));
  }

  async markPublished(id: number): Promise<void> {
    await this.update(
      `UPDATE ${OUTBOX_TABLE} SET published_at = ?, attempts = attempts + 1, claimed_until = NULL, claim_token = NULL WHERE id = ?`,
      [Date.now(), id],
    );
  }

  async recordFailure(id: number, error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    await this.update(
      `UPDATE ${OUTBOX_TABLE} SET attempts = attempts + 1, last_error = ?, claimed_until = NULL, claim_token = NULL WHERE id = ?`,
      [message.slice(0, 2000), id],
    );
  }

  /** Gives back the rows of a claim that were not published. */
  async release(token: string): Promise<void> {
    await this.update(
      `UPDATE ${OUTBOX_TABLE} SET claimed_until = NULL, claim_token = NULL WHERE claim_token = ? AND published_at IS NULL`,
      [token],
    );
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

  async purgePublished(before: number): Promise<void> {
    await this.update(
      `DELETE FROM ${OUTBOX_TABLE} WHERE published_at IS NOT NULL AND published_at < ?`,
      [before],
    );
  }

  private select<T extends object>(sql: string, replacements: unknown[]): Promise<T[]> {
    return this.db.sequelize.query<T>(sql, { replacements, type: QueryTypes.SELECT });
  }

  private async update(sql: string, replacements: unknown[]): Promise<void> {
    await this.db.sequelize.query(sql, { replacements });
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
  /** How long a claim on a row lasts (default sweepAgeMs); keep it above a publish's duration. */
  claimTtlMs?: number;
  /**
   * Test seam: runs after a message was published and before it is marked.
   * Throwing simulates the relay dying right there: the row stays unpublished
   * and claimed until the claim expires, then the sweeper publishes it again.
   */
  afterPublish?: (message: OutboxMessage) => void | Promise<void>;
}

const BATCH = 50;
const SWEEP_AGGREGATES = 100;
/** Published rows are kept this long for inspection, then deleted by the sweeper. */
const RETENTION_MS = 7 * 24 * 3600_000;
const PURGE_EVERY_MS = 3600_000;

/** Outbox of one service on one node: enqueue, relay after commit, sweeper. */
export class Outbox {
  readonly store: OutboxStore;
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  private lastPurge = 0;
  private stopped = false;

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
    const meta = (origin?.meta ?? {}) as MessageMeta;
    const context = currentRequestContext();
    const envelope = createEnvelope({
      type: message.type,
      aggregateId: message.aggregateId,
      payload: message.payload,
      version: message.version,
    });
    const headers = headersFor(envelope, {
      source: this.opts.service,
      correlationId:
        meta.correlationId ??
        origin?.requestID ??
        context?.correlationId ??
        context?.requestId ??
        undefined,
      causationId: meta.messageId,
      sagaId: message.sagaId ?? meta.sagaId ?? context?.sagaId,
    });
    await this.store.insert(tx, envelope, message.topic, headers);
    // Not awaited: commit must not wait for consumers (the in-process adapter
    // delivers inside publish), and the relay needs the connection tx holds.
    tx.afterCommit(() => void this.kick(message.aggregateId));
    return envelope.id;
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
    await this.sweeping;
    while (this.running.size) await Promise.allSettled([...this.running.values()]);
  }

  /** Publishes the aggregate's unpublished rows; calls for a busy aggregate coalesce. */
  kick(aggregateId: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const current = this.running.get(aggregateId);
    if (current) {
      this.again.add(aggregateId);
      return current;
    }
    const run = (async () => {
      do {
        this.again.delete(aggregateId);
        await this.relay(aggregateId);
      } while (this.again.has(aggregateId) && !this.stopped);
    })()
      .catch((err) => this.opts.logger.error(`Outbox relay failed for ${aggregateId}`, err))
      .finally(() => this.running.delete(aggregateId));
    this.running.set(aggregateId, run);
    return run;
  }

  /** One sweep: every aggregate with a stale unpublished row, oldest first. */
  sweep(): Promise<void> {
    if (this.sweeping || this.stopped) return this.sweeping ?? Promise.resolve();
    this.sweeping = (async () => {
      const now = Date.now();
      const aggregates = await this.store.staleAggregates(
        now - this.opts.sweepAgeMs,
        now,
        SWEEP_AGGREGATES,
      );
      if (aggregates.length)
        this.opts.logger.info(`Outbox sweeper: republishing for ${aggregates.length} aggregate(s)`);
      for (const aggregateId of aggregates) {
        if (this.stopped) break;
        await this.kick(aggregateId);
      }
      if (now - this.lastPurge > PURGE_EVERY_MS) {
        this.lastPurge = now;
        await this.store.purgePublished(now - RETENTION_MS);
      }
    })()
      .catch((err) => this.opts.logger.error("Outbox sweep failed", err))
      .finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async relay(aggregateId: string): Promise<void> {
    for (;;) {
      const pending = await this.store.pendingOf(aggregateId, BATCH);
      if (!pending.length) return;
      const token = randomUUID();
      const now = Date.now();
      const claimed = await this.store.claim(
        pending.map((r) => Number(r.id)),
        token,
        now,
        now + (this.opts.claimTtlMs ?? this.opts.sweepAgeMs),
      );
      const outcome = await this.publishInOrder(pending, claimed);
      if (outcome === "crashed") return;
      await this.store.release(token);
      if (outcome === "blocked" || pending.length < BATCH) return;
    }
  }

  /**
   * Publishes claimed rows in order; stops at the first row it does not hold
   * (another relay is on it) or that fails, so the aggregate's order holds.
   */
  private async publishInOrder(
    pending: Pick<Row, "id">[],
    claimed: Row[],
  ): Promise<"done" | "blocked" | "crashed"> {
    const byId = new Map(claimed.map((r) => [r.id, r]));
    for (const { id } of pending) {
      const row = byId.get(Number(id));
      if (!row) return "blocked";
      const message = toMessage(row);
      try {
        await this.opts.publish(message);
      } catch (err) {
        this.opts.logger.warn(
          `Outbox: publishing ${message.envelope.type} ${row.message_id} to ${row.topic} failed; the sweeper will retry`,
          err instanceof Error ? err.message : err,
        );
        await this.store.recordFailure(row.id, err);
        return "blocked";
      }
      if (this.opts.afterPublish) {
        try {
          await this.opts.afterPublish(message);
        } catch (err) {
          this.opts.logger.warn(`Outbox relay stopped after publishing ${row.message_id}`, err);
          return "crashed";
        }
      }
      await this.store.markPublished(row.id);
    }
    return "done";
  }
}

function toMessage(row: Row): OutboxMessage {
  return {
    id: Number(row.id),
    topic: row.topic as Topic,
    aggregateId: row.aggregate_id,
    envelope: JSON.parse(row.envelope) as MessageEnvelope,
    headers: JSON.parse(row.headers) as MessageHeaders,
    attempts: Number(row.attempts),
  };
}
