import jwt from "jsonwebtoken";
import type { KeyObject } from "node:crypto";
import { randomUUID } from "node:crypto";

/**
 * Access tokens: ES256 only (the algorithm is pinned on verify, so `alg: none`
 * or an HMAC token signed with the public key is refused), with iss, aud, exp
 * and a `typ: "access"` claim so no other token can pass as one.
 */
export type Role = "customer" | "admin";

export interface AccessClaims {
  sub: string;
  role: Role;
}

export interface TokenSettings {
  issuer: string;
  audience: string;
  ttlSec: number;
}

export const ACCESS_TOKEN_ALGORITHM = "ES256";

export function signAccessToken(
  claims: AccessClaims,
  privateKey: KeyObject,
  s: TokenSettings,
): string {
  return jwt.sign({ role: claims.role, typ: "access" }, privateKey, {
    algorithm: ACCESS_TOKEN_ALGORITHM,
    subject: claims.sub,
    issuer: s.issuer,
    audience: s.audience,
    expiresIn: s.ttlSec,
    jwtid: randomUUID(),
  });
}

/** Returns the claims of a valid access token, or null for anything else. */
export function verifyAccessToken(
  token: string,
  publicKey: KeyObject,
  s: Omit<TokenSettings, "ttlSec">,
): AccessClaims | null {
  try {
    const payload = jwt.verify(token, publicKey, {
      algorithms: [ACCESS_TOKEN_ALGORITHM],
      issuer: s.issuer,
      audience: s.audience,
      complete: false,
    });
    if (typeof payload !== "object" || payload === null) return null;
    const { sub, role, typ } = payload as { sub?: unknown; role?: unknown; typ?: unknown };
    if (typ !== "access" || typeof sub !== "string" || (role !== "customer" && role !== "admin"))
      return null;
    return { sub, role };
  } catch {
    return null;
  }
}
