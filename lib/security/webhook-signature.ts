import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Signed webhooks, Stripe's scheme: the provider sends
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` keyed with the
 * shared webhook secret. The receiver recomputes the HMAC over the exact
 * bytes it received, compares in constant time and refuses old timestamps,
 * so a captured delivery cannot be replayed later.
 */
export const SIGNATURE_TOLERANCE_SEC = 300;

export function signatureHeader(
  rawBody: string,
  secret: string,
  timestampSec = Math.floor(Date.now() / 1000),
): string {
  return `t=${timestampSec},v1=${hmac(secret, timestampSec, rawBody)}`;
}

export type SignatureCheck =
  | { valid: true; timestampSec: number }
  | { valid: false; reason: "missing" | "malformed" | "expired" | "mismatch" };

export function verifySignature(
  rawBody: string,
  header: string | undefined,
  secret: string,
  opts: { nowSec?: number; toleranceSec?: number } = {},
): SignatureCheck {
  if (!header) return { valid: false, reason: "missing" };
  const parsed = parseHeader(header);
  if (!parsed) return { valid: false, reason: "malformed" };
  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - parsed.timestampSec) > (opts.toleranceSec ?? SIGNATURE_TOLERANCE_SEC))
    return { valid: false, reason: "expired" };
  const expected = Buffer.from(hmac(secret, parsed.timestampSec, rawBody), "hex");
  // Any of the v1 signatures may match (a provider sends several while it rotates secrets).
  const matches = parsed.signatures.some((candidate) => {
    const given = Buffer.from(candidate, "hex");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return matches
    ? { valid: true, timestampSec: parsed.timestampSec }
    : { valid: false, reason: "mismatch" };
}

function hmac(secret: string, timestampSec: number, rawBody: string): string {
  return createHmac("sha256", secret).update(`${timestampSec}.${rawBody}`, "utf8").digest("hex");
}

function parseHeader(header: string): { timestampSec: number; signatures: string[] } | null {
  let timestampSec: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 1) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === "t" && /^\d{1,12}$/.test(value)) timestampSec = Number(value);
    else if (name === "v1" && /^[0-9a-f]{64}$/i.test(value)) signatures.push(value);
  }
  return timestampSec === undefined || !signatures.length ? null : { timestampSec, signatures };
}
