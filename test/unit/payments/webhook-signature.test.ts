import { signatureHeader, verifySignature } from "../../../lib/security/webhook-signature";

/** Stripe's webhook signature scheme, as the sandbox signs and the payments service checks. */
describe("webhook signatures", () => {
  const secret = "whsec_test_secret";
  const body = JSON.stringify({ id: "evt_1", type: "charge.succeeded" });
  const now = 1_750_000_000;

  it("accepts what was signed with the secret, at a recent time", () => {
    const header = signatureHeader(body, secret, now);
    expect(header).toMatch(/^t=1750000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature(body, header, secret, { nowSec: now + 299 })).toEqual({
      valid: true,
      timestampSec: now,
    });
  });

  it("refuses another body, another secret, a missing or malformed header", () => {
    const header = signatureHeader(body, secret, now);
    const check = (b: string, h: string | undefined, s = secret) =>
      verifySignature(b, h, s, { nowSec: now });
    expect(check(body.replace("evt_1", "evt_2"), header)).toEqual({
      valid: false,
      reason: "mismatch",
    });
    expect(check(body, header, "whsec_other")).toEqual({ valid: false, reason: "mismatch" });
    expect(check(body, undefined)).toEqual({ valid: false, reason: "missing" });
    expect(check(body, "v1=abc")).toEqual({ valid: false, reason: "malformed" });
    expect(check(body, `t=${now},v1=${"0".repeat(63)}`)).toEqual({
      valid: false,
      reason: "malformed",
    });
  });

  it("refuses a replay older than five minutes (and a timestamp from the future)", () => {
    const header = signatureHeader(body, secret, now);
    expect(verifySignature(body, header, secret, { nowSec: now + 301 })).toEqual({
      valid: false,
      reason: "expired",
    });
    expect(verifySignature(body, header, secret, { nowSec: now - 301 })).toEqual({
      valid: false,
      reason: "expired",
    });
  });

  it("accepts any of several v1 signatures (secret rotation)", () => {
    const good = signatureHeader(body, secret, now).split(",v1=")[1];
    const header = `t=${now},v1=${"a".repeat(64)},v1=${good}`;
    expect(verifySignature(body, header, secret, { nowSec: now }).valid).toBe(true);
  });
});
