import { createHash, randomBytes } from "node:crypto";

/**
 * Opaque bearer secrets (refresh and reset tokens): 256 random bits, base64url.
 * Only their SHA-256 is stored, so a leaked table grants nothing; a fast hash
 * is enough because the secret itself has full entropy.
 */
export const OPAQUE_TOKEN_BYTES = 32;

export function newOpaqueToken(): string {
  return randomBytes(OPAQUE_TOKEN_BYTES).toString("base64url");
}

export function hashOpaqueToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}
