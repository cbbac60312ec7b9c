import type { Job } from "../../lib/infra/queue/port";
import type { RelationalDatabase } from "../../lib/infra/relational";
import { maskRecipient } from "./domain/recipients";
import { SealedValueError, type MessageSealer } from "../../lib/messaging/sealing";
import { hasSecrets, openSecrets } from "./domain/secrets";
import type { NotificationRecord, NotificationRepository } from "./notification-repository";
import type { SendJob } from "./send-job";
import type { TemplateRenderer } from "./templates";
import type { Transports } from "./transports";

/**
 * The worker of the `notifications` queue: one job, one attempt to send one
 * notification. The attempt is counted in the row before anything leaves;
 * a failure is recorded (last error) and thrown, so the queue retries with
 * exponential backoff; the attempt that uses up NOTIFICATION_MAX_ATTEMPTS
 * leaves the notification failed. A notification already sent or failed is
 * never sent again, whichever job or sweep asks.
 *
 * One gap remains, as with any sender that cannot share a transaction with
 * the mail server: if the row cannot be marked sent after a successful send,
 * the retry sends again. The Message-ID (the notification id) stays the same,
 * so mail clients can tell it is the same message.
 */

export interface DeliveryDeps {
  repository: NotificationRepository;
  database: Pick<RelationalDatabase, "singleStatement">;
  renderer: TemplateRenderer;
  transports: Transports;
  /** Opens the secrets the job carries sealed (domain/secrets.ts). */
  sealer: Pick<MessageSealer, "open">;
  maxAttempts: number;
  log: { info(message: string): void; warn(message: string): void };
  clock?: () => number;
}

export class NotificationDelivery {
  private readonly clock: () => number;

  constructor(private readonly deps: DeliveryDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  async deliver(job: Job<SendJob>): Promise<void> {
    const { repository, database } = this.deps;
    const { notificationId, secrets } = job.data;
    // What is sent (recipient, template, data) never changes once stored: the row is read
    // outside the write, and the conditional UPDATE alone decides whether this attempt goes on.
    // A first attempt on the node that recorded it has the row as written, attempts 0.
    const recorded = repository.takeRecorded(notificationId);
    const stored =
      recorded && job.attemptsMade === 0 ? recorded : await repository.get(notificationId);
    if (!stored) return; // not ours
    const started = await database.singleStatement((tx) =>
      repository.startAttempt(tx, notificationId, this.clock()),
    );
    if (!started) return; // sent or failed: nothing to do
    const notification = { ...stored, status: "sending" as const, attempts: stored.attempts + 1 };
    const to = maskRecipient(notification.channel, notification.recipient);
    const what = `${notification.channel} ${notification.template} ${notification.id} to ${to}`;

    if (!hasSecrets(notification.template, secrets)) {
      // Only the lost job held them (a crash before it was queued): retrying cannot help.
      await this.fail(notification, "the message was lost before it was queued; ask again", true);
      this.deps.log.warn(`Cannot send ${what}: its secret fields are gone`);
      return;
    }

    let opened: Record<string, string> | undefined;
    try {
      opened = openSecrets(notification, secrets, this.deps.sealer);
    } catch (err) {
      if (!(err instanceof SealedValueError)) throw err;
      // The same key and job give the same answer every time: retrying cannot help.
      await this.fail(notification, `its secret fields do not open: ${err.message}`, true);
      this.deps.log.warn(`Cannot send ${what}: its secret fields do not open: ${err.message}`);
      return;
    }

    try {
      await this.send(notification, opened);
    } catch (err) {
      const final = Math.max(notification.attempts, job.attemptsMade + 1) >= this.deps.maxAttempts;
      const reason = err instanceof Error ? err.message : String(err);
      await this.fail(notification, reason, final);
      // A retried failure is routine (a busy server); the one that gives up needs a look.
      const log = final ? this.deps.log.warn : this.deps.log.info;
      log.call(
        this.deps.log,
        `Attempt ${notification.attempts} of ${what} failed${final ? ", giving up" : ""}: ${reason}`,
      );
      throw err;
    }
    await database.singleStatement((tx) => repository.markSent(tx, notificationId, this.clock()));
    this.deps.log.info(`Sent ${what}`);
  }

  private async send(n: NotificationRecord, secrets?: Record<string, string>): Promise<void> {
    const fields = { ...n.data, ...secrets };
    if (n.channel === "email") {
      const email = this.deps.renderer.email(n.template, fields);
      await this.deps.transports.email.send({ notificationId: n.id, to: n.recipient, ...email });
    } else {
      const text = this.deps.renderer.sms(n.template, fields);
      await this.deps.transports.sms.send({ notificationId: n.id, to: n.recipient, text });
    }
  }

  private fail(n: NotificationRecord, reason: string, final: boolean): Promise<void> {
    return this.deps.database.singleStatement((tx) =>
      this.deps.repository.recordFailure(tx, n.id, reason, final, this.clock()),
    );
  }
}
