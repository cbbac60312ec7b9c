import type { NotificationChannel } from "../../../lib/contracts/notifications";

/**
 * Recipient addresses: what is accepted, how phone numbers are sent to the
 * provider, and how both appear in logs (masked: the log is not the place
 * for customers' contact details).
 */

const EMAIL_PATTERN = /^[^\s@<>()",;]+@[^\s@<>()",;]+\.[^\s@<>()",;]+$/;
const PHONE_PATTERN = /^\+?[0-9]{5,20}$/;
export const MAX_EMAIL_LENGTH = 254;

export function isEmailAddress(value: string): boolean {
  return value.length <= MAX_EMAIL_LENGTH && EMAIL_PATTERN.test(value);
}

/** Digits with an optional leading +, as SMS providers expect; undefined when it is no phone number. */
export function normalizePhone(value: string): string | undefined {
  const compact = value.replace(/[\s().\-/]/g, "");
  return PHONE_PATTERN.test(compact) ? compact : undefined;
}

/** "+4915112345678" → "+***********78". */
export function maskPhone(phone: string): string {
  const plus = phone.startsWith("+") ? "+" : "";
  const digits = phone.replace(/\D/g, "");
  if (digits.length <= 4) return `${plus}***`;
  return `${plus}${"*".repeat(digits.length - 2)}${digits.slice(-2)}`;
}

/** "ann.smith@example.com" → "a***@example.com". */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf("@");
  if (at < 1) return "***";
  return `${email[0]}***${email.slice(at)}`;
}

export function maskRecipient(channel: NotificationChannel, recipient: string): string {
  return channel === "sms" ? maskPhone(recipient) : maskEmail(recipient);
}
