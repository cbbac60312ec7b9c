import { randomUUID } from "node:crypto";
import { hashOpaqueToken, newOpaqueToken } from "../../../services/users/domain/opaque-tokens";
import {
  issueRefreshToken,
  judgeRefreshToken,
  RefreshTokenRecord,
} from "../../../services/users/domain/refresh-tokens";
import {
  issueResetToken,
  isResetTokenUsable,
  resetLink,
} from "../../../services/users/domain/reset-tokens";

const now = new Date("2026-01-01T12:00:00.000Z");

describe("opaque tokens", () => {
  it("carries 256 random bits in base64url", () => {
    const token = newOpaqueToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, "base64url")).toHaveLength(32);
    expect(newOpaqueToken()).not.toBe(token);
  });

  it("is stored as its SHA-256 in hex", () => {
    const token = newOpaqueToken();
    expect(hashOpaqueToken(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashOpaqueToken(token)).toBe(hashOpaqueToken(token));
    expect(hashOpaqueToken(token)).not.toContain(token);
  });
});

describe("refresh tokens", () => {
  it("starts a new family at login and stays in it on rotation", () => {
    const first = issueRefreshToken("user-1", 60, now);
    const next = issueRefreshToken("user-1", 60, now, first.record.familyId);
    expect(next.record.familyId).toBe(first.record.familyId);
    expect(issueRefreshToken("user-1", 60, now).record.familyId).not.toBe(first.record.familyId);
    expect(first.record.tokenHash).toBe(hashOpaqueToken(first.token));
    expect(first.record.expiresAt.toISOString()).toBe("2026-01-01T12:01:00.000Z");
  });

  const stored = (changes: Partial<RefreshTokenRecord>): RefreshTokenRecord => ({
    ...issueRefreshToken(randomUUID(), 60, now).record,
    ...changes,
  });

  it("rotates a fresh token", () => {
    expect(judgeRefreshToken(stored({}), now)).toBe("rotate");
  });

  it("treats a used or revoked token as a replay", () => {
    expect(judgeRefreshToken(stored({ usedAt: now }), now)).toBe("replayed");
    expect(judgeRefreshToken(stored({ revokedAt: now }), now)).toBe("replayed");
  });

  it("refuses an expired token without calling it a replay", () => {
    expect(judgeRefreshToken(stored({ expiresAt: now }), now)).toBe("expired");
  });
});

describe("password reset tokens", () => {
  it("expires after its lifetime and is usable once", () => {
    const { token, record } = issueResetToken("user-1", 1800, now);
    expect(record.tokenHash).toBe(hashOpaqueToken(token));
    expect(isResetTokenUsable(record, now)).toBe(true);
    expect(isResetTokenUsable(record, new Date(now.getTime() + 1800_000))).toBe(false);
    expect(isResetTokenUsable({ ...record, usedAt: now }, now)).toBe(false);
  });

  it("puts the token in the link as a query parameter", () => {
    expect(resetLink("https://shop.example/reset", "abc_-1")).toBe(
      "https://shop.example/reset?token=abc_-1",
    );
    expect(resetLink("https://shop.example/reset?lang=de", "abc")).toBe(
      "https://shop.example/reset?lang=de&token=abc",
    );
  });
});
