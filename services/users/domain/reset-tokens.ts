import { randomUUID } from "node:crypto";
import { hashOpaqueToken, newOpaqueToken } from "./opaque-tokens";

/** Password reset tokens: 256 random bits, stored hashed, single use, short-lived. */
export interface ResetTokenRecord {
  id: string;
  userId: string;
  tokenHash: string;
  expiresAt: Date;
  usedAt: Date | null;
}

export interface IssuedResetToken {
  token: string;
  record: ResetTokenRecord;
}

export function issueResetToken(userId: string, ttlSec: number, now: Date): IssuedResetToken {
  const token = newOpaqueToken();
  return {
    token,
    record: {
      id: randomUUID(),
      userId,
      tokenHash: hashOpaqueToken(token),
      expiresAt: new Date(now.getTime() + ttlSec * 1000),
      usedAt: null,
    },
  };
}

export function isResetTokenUsable(record: ResetTokenRecord, now: Date): boolean {
  return record.usedAt === null && record.expiresAt.getTime() > now.getTime();
}

/** The link put in the email: PASSWORD_RESET_URL with `token` as a query parameter. */
export function resetLink(baseUrl: string, token: string): string {
  const separator = baseUrl.includes("?") ? "&" : "?";
  return `${baseUrl}${separator}token=${encodeURIComponent(token)}`;
}
