import jwt from "jsonwebtoken";
import type { KeyObject } from "node:crypto";
import { randomUUID } from "node:crypto";
import { keyId } from "./keys";

/**
 * Access tokens: ES256 only (the algorithm is pinned on verify, so `alg: none`
 * or an HMAC token signed with the public key is refused), with iss, aud, exp
 * and a `typ: "access"` claim so no other token can pass as one. The header's
 * `kid` names the signing key, so a verifier that trusts several keys (while
 * one replaces another) checks the token against that one alone.
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
    keyid: keyId(privateKey),
  });
}

/**
 * Returns the claims of a valid access token, or null for anything else.
 * A token names its key; one without a name (signed before tokens carried
 * one, so at most ACCESS_TOKEN_TTL old) is tried against each key.
 */
export function verifyAccessToken(
  token: string,
  publicKeys: KeyObject | readonly KeyObject[],
  s: Omit<TokenSettings, "ttlSec">,
): AccessClaims | null {
  const keys = Array.isArray(publicKeys) ? publicKeys : [publicKeys as KeyObject];
  const kid = headerKeyId(token);
  if (kid === null) return null;
  for (const key of keys) {
    if (kid !== undefined && keyId(key) !== kid) continue;
    const claims = verifyWith(token, key, s);
    if (claims) return claims;
  }
  return null;
}

function verifyWith(
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

/** The header's `kid`: undefined when it names none, null when the header does not parse. */
function headerKeyId(token: string): string | undefined | null {
  const dot = token.indexOf(".");
  if (dot <= 0) return null;
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, dot), "base64url").toString());
    if (typeof header !== "object" || header === null) return null;
    const { kid } = header as { kid?: unknown };
    if (kid === undefined) return undefined;
    return typeof kid === "string" ? kid : null;
  } catch {
    return null;
  }
}
