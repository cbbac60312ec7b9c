import { QueryTypes, Sequelize, Transaction } from "sequelize";
import type {
  NotificationChannel,
  NotificationStatus,
  NotificationTemplate,
  NotificationView,
} from "../../lib/contracts/notifications";
import { BoundedMap } from "../../lib/bounded-map";
import { isUniqueViolation } from "../../lib/infra/relational/errors";

/**
 * SQL of the delivery log (table in migrations.ts); every statement runs on
 * SQLite and MySQL/MariaDB. Writes take the caller's transaction. Status
 * changes are conditional UPDATEs, so a notification that is already sent or
 * failed is never touched again, whoever asks.
 */

export interface NewNotification {
  id: string;
  userId: string | null;
  channel: NotificationChannel;
  template: NotificationTemplate;
  recipient: string;
  subject: string | null;
  data: Record<string, unknown>;
  causeMessageId: string;
  eventType: string;
}

export interface NotificationRecord extends NewNotification {
  status: NotificationStatus;
  attempts: number;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  sentAt: number | null;
}

export interface NotificationFilters {
  status?: NotificationStatus;
  channel?: NotificationChannel;
  template?: NotificationTemplate;
  userId?: string;
}

interface Row {
  id: string;
  user_id: string | null;
  channel: NotificationChannel;
  template: NotificationTemplate;
  recipient: string;
  subject: string | null;
  data: string;
  status: NotificationStatus;
  attempts: number | string;
  last_error: string | null;
  cause_message_id: string;
  event_type: string;
  created_at: number | string;
  updated_at: number | string;
  sent_at: number | string | null;
}

/** Statuses from which a send may still start. */
const OPEN = ["queued", "sending"] as const;
/** Error texts are kept short: enough to diagnose, not a stack. */
const MAX_ERROR_LENGTH = 1000;
/** Notifications kept as recorded until a worker here takes them: half a minute of checkout emails. */
const RECENTLY_RECORDED = 2_000;

export class NotificationRepository {
  /**
   * What this node recorded lately, as a read of the fresh row would give it
   * (`data` parsed back from the JSON stored), until a worker here takes it.
   * What is sent never changes once stored, so the first attempt on this
   * node needs no read; rows another node's worker sends fall out by age.
   */
  private readonly recorded = new BoundedMap<string, NotificationRecord>(RECENTLY_RECORDED);

  constructor(private readonly sequelize: Sequelize) {}

  /** False when a notification with this id exists (the same cause was handled before). */
  async insertIfAbsent(n: NewNotification, now: number, tx?: Transaction): Promise<boolean> {
    const data = JSON.stringify(n.data);
    try {
      await this.sequelize.query(
        `INSERT INTO notifications (id, user_id, channel, template, recipient, subject, data, status,
           attempts, cause_message_id, event_type, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?)`,
        {
          replacements: [
            n.id,
            n.userId,
            n.channel,
            n.template,
            n.recipient,
            n.subject,
            data,
            n.causeMessageId,
            n.eventType,
            now,
            now,
          ],
          transaction: tx,
          type: QueryTypes.INSERT,
        },
      );
    } catch (err) {
      // A failed INSERT leaves the transaction usable on MySQL and SQLite.
      if (isUniqueViolation(err)) return false;
      throw err;
    }
    const remember = () => this.remember(n, data, now);
    if (tx) tx.afterCommit(remember);
    else remember();
    return true;
  }

  /**
   * The notification as this node recorded it, once: undefined when it was
   * recorded elsewhere, long ago, or taken before (the row is the answer then).
   */
  takeRecorded(id: string): NotificationRecord | undefined {
    return this.recorded.take(id);
  }

  private remember(n: NewNotification, data: string, now: number): void {
    this.recorded.set(n.id, {
      ...n,
      data: JSON.parse(data) as Record<string, unknown>,
      status: "queued",
      attempts: 0,
      lastError: null,
      createdAt: now,
      updatedAt: now,
      sentAt: null,
    });
  }

  /** The ids among `ids` whose notification has not been picked up by a worker yet. */
  async queuedAmong(ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const rows = await this.sequelize.query<{ id: string }>(
      `SELECT id FROM notifications WHERE status = 'queued' AND id IN (${ids.map(() => "?").join(", ")})`,
      { replacements: ids, type: QueryTypes.SELECT },
    );
    return new Set(rows.map((r) => r.id));
  }

  /**
   * Counts a send attempt and marks the notification `sending`; false when
   * it is already sent or failed (or unknown), so nothing is sent again.
   */
  async startAttempt(tx: Transaction | undefined, id: string, now: number): Promise<boolean> {
    const affected = await this.update(
      tx,
      `UPDATE notifications SET status = 'sending', attempts = attempts + 1, updated_at = ?
       WHERE id = ? AND status IN (${OPEN.map((s) => `'${s}'`).join(", ")})`,
      [now, id],
    );
    return affected > 0;
  }

  async markSent(tx: Transaction | undefined, id: string, now: number): Promise<void> {
    await this.update(
      tx,
      `UPDATE notifications SET status = 'sent', last_error = NULL, sent_at = ?, updated_at = ?
       WHERE id = ? AND status = 'sending'`,
      [now, now, id],
    );
  }

  /** Records why an attempt failed; `final` keeps the notification as failed. */
  async recordFailure(
    tx: Transaction | undefined,
    id: string,
    error: string,
    final: boolean,
    now: number,
  ): Promise<void> {
    await this.update(
      tx,
      `UPDATE notifications SET status = ?, last_error = ?, updated_at = ?
       WHERE id = ? AND status IN (${OPEN.map((s) => `'${s}'`).join(", ")})`,
      [final ? "failed" : "sending", error.slice(0, MAX_ERROR_LENGTH), now, id],
    );
  }

  /**
   * An operator retries a failed send: the notification may be attempted
   * again, with a fresh count (its last error stays until it is sent).
   * False when it is not failed (sent meanwhile, or unknown).
   */
  async reopenFailed(tx: Transaction, id: string, now: number): Promise<boolean> {
    const affected = await this.update(
      tx,
      `UPDATE notifications SET status = 'queued', attempts = 0, updated_at = ?
       WHERE id = ? AND status = 'failed'`,
      [now, id],
    );
    return affected > 0;
  }

  async get(id: string, tx?: Transaction): Promise<NotificationRecord | undefined> {
    const [row] = await this.sequelize.query<Row>("SELECT * FROM notifications WHERE id = ?", {
      replacements: [id],
      transaction: tx,
      type: QueryTypes.SELECT,
    });
    return row ? toRecord(row) : undefined;
  }

  /** Notifications not finished whose last change is older than `before`, oldest first. */
  async unfinishedSince(before: number, limit: number): Promise<string[]> {
    const rows = await this.sequelize.query<{ id: string }>(
      `SELECT id FROM notifications
       WHERE status IN (${OPEN.map((s) => `'${s}'`).join(", ")}) AND updated_at < ?
       ORDER BY updated_at LIMIT ?`,
      { replacements: [before, limit], type: QueryTypes.SELECT },
    );
    return rows.map((r) => r.id);
  }

  async list(
    filters: NotificationFilters,
    window: { offset: number; limit: number },
  ): Promise<{ rows: NotificationRecord[]; total: number }> {
    const clauses: string[] = [];
    const values: unknown[] = [];
    const columns: [keyof NotificationFilters, string][] = [
      ["status", "status"],
      ["channel", "channel"],
      ["template", "template"],
      ["userId", "user_id"],
    ];
    for (const [filter, column] of columns) {
      if (filters[filter] === undefined) continue;
      clauses.push(`${column} = ?`);
      values.push(filters[filter]);
    }
    const where = clauses.length ? `WHERE ${clauses.join(" AND ")}` : "";
    const [count] = await this.sequelize.query<{ n: number | string }>(
      `SELECT COUNT(*) AS n FROM notifications ${where}`,
      { replacements: values, type: QueryTypes.SELECT },
    );
    const rows = await this.sequelize.query<Row>(
      `SELECT * FROM notifications ${where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
      { replacements: [...values, window.limit, window.offset], type: QueryTypes.SELECT },
    );
    return { rows: rows.map(toRecord), total: Number(count.n) };
  }

  /** Rows changed by an UPDATE (the dialects report it differently). */
  private async update(
    tx: Transaction | undefined,
    sql: string,
    replacements: unknown[],
  ): Promise<number> {
    const result = (await this.sequelize.query(sql, {
      replacements,
      transaction: tx,
      type: QueryTypes.UPDATE,
    })) as unknown as [unknown, number];
    return Number(result[1] ?? 0);
  }
}

function toRecord(row: Row): NotificationRecord {
  return {
    id: row.id,
    userId: row.user_id,
    channel: row.channel,
    template: row.template,
    recipient: row.recipient,
    subject: row.subject,
    data: JSON.parse(row.data) as Record<string, unknown>,
    causeMessageId: row.cause_message_id,
    eventType: row.event_type,
    status: row.status,
    attempts: Number(row.attempts),
    lastError: row.last_error,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    sentAt: row.sent_at === null ? null : Number(row.sent_at),
  };
}

export function toView(record: NotificationRecord): NotificationView {
  return {
    id: record.id,
    userId: record.userId,
    channel: record.channel,
    template: record.template,
    recipient: record.recipient,
    subject: record.subject,
    status: record.status,
    attempts: record.attempts,
    lastError: record.lastError,
    causeMessageId: record.causeMessageId,
    eventType: record.eventType,
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
    sentAt: record.sentAt === null ? null : new Date(record.sentAt).toISOString(),
  };
}
