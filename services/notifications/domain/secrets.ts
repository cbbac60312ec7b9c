import { NotificationTemplate, secretContext } from "../../../lib/contracts/notifications";
import type { MessageSealer } from "../../../lib/messaging/sealing";

/**
 * Template fields that are secrets: they travel only in the queued job (so
 * the message can be sent) and are never written to the delivery log, the
 * database or the logs. A notification whose job lost them cannot be sent.
 * They arrive sealed by the sender for the one notification that sends them
 * and stay sealed in the job; only the worker opens them, to render.
 */
export const SECRET_FIELDS: Partial<Record<NotificationTemplate, readonly string[]>> = {
  // The link carries the reset token: whoever reads it can set the password.
  "password-reset": ["resetLink"],
};

export function hasSecrets(
  template: NotificationTemplate,
  secrets: Record<string, string> | undefined,
): boolean {
  return (SECRET_FIELDS[template] ?? []).every((field) => typeof secrets?.[field] === "string");
}

/** The job's secrets opened for the notification they were sealed for; throws SealedValueError. */
export function openSecrets(
  notification: { template: NotificationTemplate; userId: string | null; recipient: string },
  secrets: Record<string, string> | undefined,
  sealer: Pick<MessageSealer, "open">,
): Record<string, string> | undefined {
  if (!secrets) return undefined;
  const { template, userId, recipient } = notification;
  const context = secretContext(template, userId ?? "", recipient);
  return Object.fromEntries(
    Object.entries(secrets).map(([field, sealed]) => [field, sealer.open(sealed, context)]),
  );
}
