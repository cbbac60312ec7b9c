/**
 * Shapes that cross the notifications service's boundary: the
 * `notifications.commands` payload other services and operators send, and
 * the delivery log `GET /notifications` answers. Fields may be added; none
 * may be renamed.
 */

export type NotificationChannel = "email" | "sms";

export type NotificationStatus = "queued" | "sending" | "sent" | "failed";

/** The templates under services/notifications/templates/. */
export const NOTIFICATION_TEMPLATES = [
  "welcome",
  "password-reset",
  "order-confirmed",
  "order-cancelled",
  "order-shipped",
  "payment-receipt",
] as const;

export type NotificationTemplate = (typeof NOTIFICATION_TEMPLATES)[number];

/**
 * What a secret sealed for a notification is bound to (lib/messaging/sealing.ts):
 * it opens only in a notification of that template, about that user, to that
 * address.
 */
export function secretContext(
  template: NotificationTemplate,
  userId: string,
  recipient: string,
): string {
  return ["notification-secret", template, userId, recipient].join("\n");
}

/**
 * notifications.commands SendNotification: send one message built from a
 * template. The same `notificationKey` (with the same template and channel)
 * is sent at most once, however often the command is repeated.
 */
export interface SendNotificationCommand {
  notificationKey: string;
  channel: NotificationChannel;
  /** An email address, or a phone number for sms. */
  to: string;
  template: NotificationTemplate;
  /** The template's fields (e.g. name, orderId, total). Kept in the delivery log: no secrets. */
  data: Record<string, unknown>;
  /** The user the message is about, when there is one (filterable in the delivery log). */
  userId?: string;
}

/** One entry of the delivery log. Times are ISO 8601. */
export interface NotificationView {
  id: string;
  userId: string | null;
  channel: NotificationChannel;
  template: NotificationTemplate;
  /** Email address or phone number. */
  recipient: string;
  /** Emails only. */
  subject: string | null;
  status: NotificationStatus;
  /** Send attempts started so far. */
  attempts: number;
  lastError: string | null;
  /** The message (event or command) that caused it. */
  causeMessageId: string;
  eventType: string;
  createdAt: string;
  updatedAt: string;
  sentAt: string | null;
}
