/**
 * A job on the `notifications` queue. Its id is the notification id, so a
 * notification is on the queue at most once. It carries no message content:
 * the worker renders from the stored template fields, plus the secrets that
 * only the job holds (domain/secrets.ts).
 */
export const NOTIFICATIONS_QUEUE = "notifications";
export const SEND_JOB = "send";

export interface SendJob {
  notificationId: string;
  secrets?: Record<string, string>;
}
