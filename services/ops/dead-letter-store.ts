import { DataTypes, QueryTypes } from "sequelize";
import type { Migration, RelationalDatabase } from "../../lib/infra/relational";
import { DeadLetterHeaders } from "../../lib/infra/channels/dead-letter-headers";
import { mediumText } from "../../lib/messaging/sql-types";
import { isUniqueViolation } from "../../lib/infra/relational/errors";

/**
 * Storage of dead letters: messages a consumer group gave up on, kept so an
 * operator can read and replay them. One row per (topic, group, message):
 * the same dead letter delivered twice is stored once; the same message
 * failing again after a replay updates its row and makes it "dead" again.
 */

const TABLE = "dead_letters";

export const deadLetterMigrations: Migration[] = [
  {
    name: "deadletters-0001-create-dead-letters",
    async up(qi, sequelize) {
      await qi.createTable(TABLE, {
        id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
        /** Topic without the channels prefix, e.g. "orders.events". */
        topic: { type: DataTypes.STRING(150), allowNull: false },
        /** Consumer group that failed ("group" is an SQL keyword). */
        consumer_group: { type: DataTypes.STRING(150), allowNull: false },
        /** messageId header, else envelope id, else transport id: what makes a row unique. */
        message_key: { type: DataTypes.STRING(100), allowNull: false },
        /** Transport id of the failed delivery: tells a duplicate from a new failure. */
        original_id: { type: DataTypes.STRING(100), allowNull: true },
        type: { type: DataTypes.STRING(100), allowNull: true },
        aggregate_id: { type: DataTypes.STRING(100), allowNull: true },
        payload: { type: mediumText(sequelize), allowNull: false },
        headers: { type: DataTypes.TEXT, allowNull: false },
        error: { type: DataTypes.TEXT, allowNull: true },
        attempts: { type: DataTypes.INTEGER, allowNull: true },
        status: { type: DataTypes.STRING(16), allowNull: false },
        received_at: { type: DataTypes.BIGINT, allowNull: false },
        replayed_at: { type: DataTypes.BIGINT, allowNull: true },
        replay_count: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      });
      await qi.addIndex(TABLE, ["topic", "consumer_group", "message_key"], {
        name: "dead_letters_message",
        unique: true,
      });
      await qi.addIndex(TABLE, ["status", "topic"], { name: "dead_letters_status" });
    },
    async down(qi) {
      await qi.dropTable(TABLE);
    },
  },
];

export type DeadLetterStatus = "dead" | "replayed";

export interface DeadLetter {
  id: number;
  topic: string;
  group: string;
  messageId: string | null;
  type: string | null;
  aggregateId: string | null;
  payload: unknown;
  headers: Record<string, string>;
  error: string | null;
  attempts: number | null;
  status: DeadLetterStatus;
  receivedAt: string;
  replayedAt: string | null;
  replayCount: number;
}

/** The list view leaves out payload and headers. */
export type DeadLetterSummary = Omit<DeadLetter, "payload" | "headers">;

export interface IncomingDeadLetter {
  topic: string;
  payload: unknown;
  headers: Record<string, string>;
}

export interface Page<T> {
  items: T[];
  page: number;
  pageSize: number;
  total: number;
}

interface Row {
  id: number;
  topic: string;
  consumer_group: string;
  message_key: string;
  original_id: string | null;
  type: string | null;
  aggregate_id: string | null;
  payload: string;
  headers: string;
  error: string | null;
  attempts: number | null;
  status: DeadLetterStatus;
  received_at: number;
  replayed_at: number | null;
  replay_count: number;
}

const SUMMARY_COLUMNS =
  "id, topic, consumer_group, message_key, type, aggregate_id, error, attempts, status, received_at, replayed_at, replay_count";

export class DeadLetterStore {
  constructor(private readonly db: RelationalDatabase) {}

  /** Stores a dead letter; `created` is false for a duplicate or a repeat failure. */
  async record(incoming: IncomingDeadLetter): Promise<{ id: number; created: boolean }> {
    const h = incoming.headers;
    const envelope = asEnvelope(incoming.payload);
    const originalId = h[DeadLetterHeaders.originalId] ?? null;
    const fields = {
      topic: incoming.topic,
      consumer_group: h[DeadLetterHeaders.originalGroup] ?? "unknown",
      message_key: h.messageId ?? envelope?.id ?? originalId ?? "unknown",
      original_id: originalId,
      type: envelope?.type ?? null,
      aggregate_id: envelope?.aggregateId ?? null,
      payload: JSON.stringify(incoming.payload ?? null),
      headers: JSON.stringify(h),
      error: h[DeadLetterHeaders.errorMessage] ?? null,
      attempts: h[DeadLetterHeaders.attempts] ? Number(h[DeadLetterHeaders.attempts]) : null,
      received_at: Date.now(),
    };
    try {
      const columns = Object.keys(fields);
      await this.db.sequelize.query(
        `INSERT INTO ${TABLE} (${columns.join(", ")}, status, replay_count)
         VALUES (${columns.map(() => "?").join(", ")}, 'dead', 0)`,
        { replacements: Object.values(fields), type: QueryTypes.INSERT },
      );
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const [existing] = await this.select<Row>(
        `SELECT * FROM ${TABLE} WHERE topic = ? AND consumer_group = ? AND message_key = ?`,
        [fields.topic, fields.consumer_group, fields.message_key],
      );
      // The same delivery again: nothing new. Another delivery: it failed again.
      if (existing.original_id !== fields.original_id) {
        await this.db.sequelize.query(
          `UPDATE ${TABLE} SET original_id = ?, payload = ?, headers = ?, error = ?, attempts = ?,
           received_at = ?, status = 'dead' WHERE id = ?`,
          {
            replacements: [
              fields.original_id,
              fields.payload,
              fields.headers,
              fields.error,
              fields.attempts,
              fields.received_at,
              existing.id,
            ],
          },
        );
      }
      return { id: Number(existing.id), created: false };
    }
    const [row] = await this.select<Pick<Row, "id">>(
      `SELECT id FROM ${TABLE} WHERE topic = ? AND consumer_group = ? AND message_key = ?`,
      [fields.topic, fields.consumer_group, fields.message_key],
    );
    return { id: Number(row.id), created: true };
  }

  async list(opts: {
    topic?: string;
    page: number;
    pageSize: number;
  }): Promise<Page<DeadLetterSummary>> {
    const where = opts.topic ? "WHERE topic = ?" : "";
    const args = opts.topic ? [opts.topic] : [];
    const [{ n }] = await this.select<{ n: number | string }>(
      `SELECT COUNT(*) AS n FROM ${TABLE} ${where}`,
      args,
    );
    const rows = await this.select<Row>(
      `SELECT ${SUMMARY_COLUMNS} FROM ${TABLE} ${where} ORDER BY id DESC LIMIT ? OFFSET ?`,
      [...args, opts.pageSize, (opts.page - 1) * opts.pageSize],
    );
    return {
      items: rows.map(toSummary),
      page: opts.page,
      pageSize: opts.pageSize,
      total: Number(n),
    };
  }

  async get(id: number): Promise<DeadLetter | null> {
    const [row] = await this.select<Row>(`SELECT * FROM ${TABLE} WHERE id = ?`, [id]);
    return row ? toDeadLetter(row) : null;
  }

  async summary(id: number): Promise<DeadLetterSummary | null> {
    const [row] = await this.select<Row>(`SELECT ${SUMMARY_COLUMNS} FROM ${TABLE} WHERE id = ?`, [
      id,
    ]);
    return row ? toSummary(row) : null;
  }

  /** Ids of the dead (not replayed) letters of a topic, oldest first. */
  async deadIds(topic: string, limit: number): Promise<number[]> {
    const rows = await this.select<{ id: number }>(
      `SELECT id FROM ${TABLE} WHERE topic = ? AND status = 'dead' ORDER BY id LIMIT ?`,
      [topic, limit],
    );
    return rows.map((r) => Number(r.id));
  }

  /** Dead (not replayed) letters per topic; topics with none are absent. */
  async deadCountsByTopic(): Promise<Map<string, number>> {
    const rows = await this.select<{ topic: string; n: number | string }>(
      `SELECT topic, COUNT(*) AS n FROM ${TABLE} WHERE status = 'dead' GROUP BY topic`,
      [],
    );
    return new Map(rows.map((r) => [r.topic, Number(r.n)]));
  }

  /** Marks a replay before it is sent, so a failure during the replay can mark it dead again. */
  async markReplayed(id: number): Promise<void> {
    await this.db.sequelize.query(
      `UPDATE ${TABLE} SET status = 'replayed', replayed_at = ?, replay_count = replay_count + 1 WHERE id = ?`,
      { replacements: [Date.now(), id] },
    );
  }

  /** Undoes markReplayed when the replay could not be sent. */
  async unmarkReplayed(previous: DeadLetter): Promise<void> {
    await this.db.sequelize.query(
      `UPDATE ${TABLE} SET status = ?, replayed_at = ?, replay_count = ? WHERE id = ?`,
      {
        replacements: [
          previous.status,
          previous.replayedAt ? Date.parse(previous.replayedAt) : null,
          previous.replayCount,
          previous.id,
        ],
      },
    );
  }

  private select<T extends object>(sql: string, replacements: unknown[]): Promise<T[]> {
    return this.db.sequelize.query<T>(sql, { replacements, type: QueryTypes.SELECT });
  }
}

function asEnvelope(
  payload: unknown,
): { id?: string; type?: string; aggregateId?: string } | undefined {
  if (typeof payload !== "object" || payload === null) return undefined;
  const p = payload as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  return { id: str(p.id), type: str(p.type), aggregateId: str(p.aggregateId) };
}

function iso(ms: number | string | null): string | null {
  return ms == null ? null : new Date(Number(ms)).toISOString();
}

function toSummary(row: Row): DeadLetterSummary {
  return {
    id: Number(row.id),
    topic: row.topic,
    group: row.consumer_group,
    messageId: row.message_key,
    type: row.type,
    aggregateId: row.aggregate_id,
    error: row.error,
    attempts: row.attempts == null ? null : Number(row.attempts),
    status: row.status,
    receivedAt: iso(row.received_at)!,
    replayedAt: iso(row.replayed_at),
    replayCount: Number(row.replay_count),
  };
}

function toDeadLetter(row: Row): DeadLetter {
  return {
    ...toSummary(row),
    payload: JSON.parse(row.payload) as unknown,
    headers: JSON.parse(row.headers) as Record<string, string>,
  };
}
