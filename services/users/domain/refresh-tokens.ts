import { randomUUID } from "node:crypto";
import { hashOpaqueToken, newOpaqueToken } from "./opaque-tokens";

/**
 * Rotating refresh tokens with reuse detection. Each login starts a family;
 * every refresh uses up the presented token and issues the next one in the
 * same family. A token presented again after it was used (or revoked) means
 * two parties hold the family, so the whole family is revoked.
 */
export interface RefreshTokenRecord {
  id: string;
  userId: string;
  familyId: string;
  tokenHash: string;
  expiresAt: Date;
  usedAt: Date | null;
  revokedAt: Date | null;
}

export interface IssuedRefreshToken {
  /** The secret handed to the client once; never stored. */
  token: string;
  record: RefreshTokenRecord;
}

/** Issues a token in `familyId`, or in a new family when none is given (a login). */
export function issueRefreshToken(
  userId: string,
  ttlSec: number,
  now: Date,
  familyId: string = randomUUID(),
): IssuedRefreshToken {
  const token = newOpaqueToken();
  return {
    token,
    record: {
      id: randomUUID(),
      userId,
      familyId,
      tokenHash: hashOpaqueToken(token),
      expiresAt: new Date(now.getTime() + ttlSec * 1000),
      usedAt: null,
      revokedAt: null,
    },
  };
}

/** What presenting a stored token means: rotate it, refuse it, or treat it as stolen. */
export type RefreshTokenVerdict = "rotate" | "expired" | "replayed";

export function judgeRefreshToken(record: RefreshTokenRecord, now: Date): RefreshTokenVerdict {
  if (record.usedAt || record.revokedAt) return "replayed";
  if (record.expiresAt.getTime() <= now.getTime()) return "expired";
  return "rotate";
}
