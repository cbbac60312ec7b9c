import type { NotificationView } from "../../lib/contracts/notifications";
import type { JobQueue } from "../../lib/infra/queue/port";
import type { RelationalDatabase } from "../../lib/infra/relational";
import type { MessageEnvelope } from "../../lib/messaging/envelope";
import { processOnce } from "../../lib/messaging/inbox";
import { PageOf, PageRequest, pageWindow } from "../../lib/pagination";
import type { PlannedNotification } from "./notification-planner";
import {
  NewNotification,
  NotificationFilters,
  NotificationRepository,
  toView,
} from "./notification-repository";
import { SEND_JOB, SendJob } from "./send-job";
import type { TemplateRenderer } from "./templates";

/**
 * Recording and queueing notifications, and the delivery log.
 *
 * What is stored: the row keeps the template fields without secrets and the
 * rendered subject; the bodies are rendered by the worker at send time. The
 * one secret (the reset link) rides only in the queued job. Storing rendered
 * bodies instead would put the reset token in the database; storing nothing
 * would leave the sweeper unable to send what a crash left unqueued. A
 * password reset the job lost cannot be sent, and is marked failed (the
 * customer asks again; the token expires anyway).
 *
 * Exactly once, step by step:
 *  1. In one transaction: the message id goes into the inbox, and each
 *     notification is inserted unless its id exists. A redelivered message
 *     changes nothing here. A message that causes one notification (most
 *     do) needs neither: that notification's id is derived from the
 *     message's, so its INSERT alone records the message, in one statement.
 *  2. After commit, every notification of the message still `queued` is
 *     added to the queue with its id as job id: adding it again while the
 *     job exists is a no-op. If adding fails (Redis away) the handler throws
 *     and the message is redelivered, which queues it then — with the secrets
 *     the redelivered message carries.
 *  3. The sweeper re-adds notifications left unfinished for long (a crash
 *     between 1 and 2, or an in-process queue lost with its node).
 *  4. The worker starts an attempt only for a notification not yet sent or
 *     failed (delivery.ts).
 */

export interface NotificationDeps {
  repository: NotificationRepository;
  database: Pick<RelationalDatabase, "transaction">;
  queue: JobQueue<SendJob>;
  renderer: TemplateRenderer;
  /** NOTIFICATION_MAX_ATTEMPTS and NOTIFICATION_BACKOFF_MS. */
  retry: { attempts: number; backoffMs: number };
  clock?: () => number;
}

export interface AcceptOutcome {
  /** False when the message was handled before (redelivered). */
  firstDelivery: boolean;
  /** Notifications added to the queue now (including ones a failed attempt had left unqueued). */
  queued: number;
}

export type ListRequest = NotificationFilters & PageRequest;

/** Most failed sends one "retry them all" reopens. */
const RETRY_BATCH = 1000;

export class NotificationUseCases {
  private readonly clock: () => number;

  constructor(private readonly deps: NotificationDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  /** Records the notifications a message causes (once per message) and queues them. */
  async accept(
    consumer: string,
    envelope: Pick<MessageEnvelope, "id">,
    planned: PlannedNotification[],
  ): Promise<AcceptOutcome> {
    // Rendered before anything is stored: a template the data does not fit is refused whole.
    const rows = planned.map((n) => this.toRow(n));
    const now = this.clock();
    const { firstDelivery, allNew } = await this.record(consumer, envelope.id, rows, now);
    // Rows this call created are queued and nobody has their ids yet: no need to read them back.
    const ids = planned.map((n) => n.id);
    const waiting = allNew ? new Set(ids) : await this.deps.repository.queuedAmong(ids);
    const toQueue = planned.filter((n) => waiting.has(n.id));
    for (const n of toQueue) await this.enqueue(n.id, n.secrets);
    return { firstDelivery, queued: toQueue.length };
  }

  /** Stores a message's notifications unless it was handled before. */
  private async record(
    consumer: string,
    messageId: string,
    rows: NewNotification[],
    now: number,
  ): Promise<{ firstDelivery: boolean; allNew: boolean }> {
    const { repository } = this.deps;
    if (rows.length === 1) {
      const inserted = await repository.insertIfAbsent(rows[0], now);
      return { firstDelivery: inserted, allNew: inserted };
    }
    return this.deps.database.transaction(async (tx) => {
      if (!(await processOnce(tx, consumer, messageId)))
        return { firstDelivery: false, allNew: false };
      let inserted = 0;
      for (const row of rows) if (await repository.insertIfAbsent(row, now, tx)) inserted++;
      return { firstDelivery: true, allNew: inserted === rows.length };
    });
  }

  /** The delivery log, newest first. */
  async list(request: ListRequest): Promise<PageOf<NotificationView>> {
    const { page, pageSize, offset } = pageWindow(request);
    const filters: NotificationFilters = {
      status: request.status,
      channel: request.channel,
      template: request.template,
      userId: request.userId,
    };
    const { rows, total } = await this.deps.repository.list(filters, { offset, limit: pageSize });
    return { items: rows.map(toView), page, pageSize, total };
  }

  /**
   * Puts back on the queue notifications unfinished for `ageMs` (a no-op for
   * those whose job is still there). Returns how many were looked at.
   */
  async requeueUnfinished(ageMs: number, limit = 100): Promise<number> {
    const ids = await this.deps.repository.unfinishedSince(this.clock() - ageMs, limit);
    for (const id of ids) await this.enqueue(id);
    return ids.length;
  }

  /**
   * An operator retries failed sends (one job, or every failed job): each
   * notification is reopened, then its job goes back to waiting with its
   * data (a reset link included) and fresh attempts. A job whose
   * notification is not failed (sent by another path) is left alone, since
   * the worker would skip it anyway. Returns how many jobs were retried.
   */
  async retryFailedSends(jobId?: string): Promise<number> {
    const ids = jobId ? [jobId] : (await this.deps.queue.failed(RETRY_BATCH)).map((j) => j.id);
    let retried = 0;
    for (const id of ids) {
      const reopened = await this.deps.database.transaction((tx) =>
        this.deps.repository.reopenFailed(tx, id, this.clock()),
      );
      if (reopened) retried += await this.deps.queue.retryFailed(id);
    }
    return retried;
  }

  private async enqueue(notificationId: string, secrets?: Record<string, string>): Promise<void> {
    const job: SendJob = secrets ? { notificationId, secrets } : { notificationId };
    await this.deps.queue.add(SEND_JOB, job, {
      jobId: notificationId,
      attempts: this.deps.retry.attempts,
      backoffMs: this.deps.retry.backoffMs,
    });
  }

  private toRow(n: PlannedNotification): NewNotification {
    const fields = { ...n.data, ...n.secrets };
    let subject: string | null = null;
    if (n.channel === "email") subject = this.deps.renderer.email(n.template, fields).subject;
    else this.deps.renderer.sms(n.template, fields);
    return {
      id: n.id,
      userId: n.userId,
      channel: n.channel,
      template: n.template,
      recipient: n.recipient,
      subject,
      data: n.data,
      causeMessageId: n.causeMessageId,
      eventType: n.eventType,
    };
  }
}
