import { createHash } from "node:crypto";

/**
 * A notification's id is derived from what caused it, so the same cause
 * always names the same notification: a redelivered event or a repeated
 * command finds the row (primary key) and the queued job (job id) it made the
 * first time. The id is a name-based UUID (version 5: SHA-1 of a namespace
 * and the name), which is also a valid BullMQ job id (not an integer, no ":").
 */
const NAMESPACE = Buffer.from("3f6f2d0c9a8e4b57b1e2c4d5a6f70819", "hex");

/** `causeKey`: the message id of an event, or the notificationKey of a SendNotification command. */
export function notificationId(causeKey: string, template: string, channel: string): string {
  const hash = createHash("sha1")
    .update(NAMESPACE)
    .update(`${causeKey}:${template}:${channel}`, "utf8")
    .digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50; // version 5
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = bytes.toString("hex");
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    hex.slice(12, 16),
    hex.slice(16, 20),
    hex.slice(20, 32),
  ].join("-");
}
