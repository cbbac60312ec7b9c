import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * A guest proves they hold a cart with the token they got when it was made
 * (`X-Cart-Token`). The token is `<cart id>.<secret>`: the id says which
 * cart to load, the secret (32 random bytes, base64url: 256 bits) proves the
 * holder. Only the secret's SHA-256 is stored, so a leaked store does not
 * leak usable tokens; it is compared in constant time.
 */
const SECRET_BYTES = 32;
const TOKEN_PATTERN =
  /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;

export interface IssuedGuestToken {
  token: string;
  /** SHA-256 (hex) of the secret: what the store keeps. */
  tokenHash: string;
}

export function issueGuestToken(cartId: string): IssuedGuestToken {
  const secret = randomBytes(SECRET_BYTES).toString("base64url");
  return { token: `${cartId}.${secret}`, tokenHash: sha256Hex(secret) };
}

export interface PresentedGuestToken {
  cartId: string;
  secret: string;
}

/** The parts of a well-formed token; null for anything else (which then finds no cart). */
export function parseGuestToken(token: string | undefined): PresentedGuestToken | null {
  const match = TOKEN_PATTERN.exec(token ?? "");
  return match ? { cartId: match[1], secret: match[2] } : null;
}

/** True when the presented secret hashes to the stored hash. */
export function tokenMatches(presented: PresentedGuestToken, storedHash: string | null): boolean {
  if (!storedHash) return false;
  const expected = Buffer.from(storedHash, "hex");
  const actual = createHash("sha256").update(presented.secret).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

function sha256Hex(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}
