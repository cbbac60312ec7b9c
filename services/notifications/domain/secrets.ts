import type { NotificationTemplate } from "../../../lib/contracts/notifications";

/**
 * Template fields that are secrets: they travel only in the queued job (so
 * the message can be sent) and are never written to the delivery log, the
 * database or the logs. A notification whose job lost them cannot be sent.
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
