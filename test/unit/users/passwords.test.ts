import {
  hashesAtOnce,
  hashPassword,
  passwordHashNeedsUpgrade,
  verifyPassword,
  warmUpPasswordHashing,
} from "../../../services/users/domain/passwords";

describe("password hashing", () => {
  it("produces argon2id hashes that verify the password and nothing else", async () => {
    const hash = await hashPassword("correct horse battery staple");
    expect(hash).toMatch(/^\$argon2id\$/);
    expect(await verifyPassword(hash, "correct horse battery staple")).toBe(true);
    expect(await verifyPassword(hash, "correct horse battery stapl")).toBe(false);
  });

  it("salts every hash", async () => {
    expect(await hashPassword("same password")).not.toBe(await hashPassword("same password"));
  });

  it("never matches without a stored hash, yet spends a real verification", async () => {
    await warmUpPasswordHashing();
    const hash = await hashPassword("timing matters");
    const started = process.hrtime.bigint();
    expect(await verifyPassword(hash, "wrong guess")).toBe(false);
    const known = Number(process.hrtime.bigint() - started);
    const startedUnknown = process.hrtime.bigint();
    expect(await verifyPassword(undefined, "wrong guess")).toBe(false);
    const unknown = Number(process.hrtime.bigint() - startedUnknown);
    // Same work on both paths: the unknown account is not answered instantly.
    expect(unknown).toBeGreaterThan(known / 4);
  });

  it("treats a malformed stored hash as a mismatch", async () => {
    expect(await verifyPassword("not-a-hash", "anything at all")).toBe(false);
  });

  it("tells when a hash was made with other parameters", async () => {
    expect(passwordHashNeedsUpgrade(await hashPassword("fresh parameters"))).toBe(false);
    const old =
      "$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$ZmFrZWhhc2hmYWtlaGFzaGZha2VoYXNoZmFrZWg";
    expect(passwordHashNeedsUpgrade(old)).toBe(true);
  });

  it("hashes at most two at a time on a default thread pool, fewer on one core", () => {
    expect(hashesAtOnce(2, 4)).toBe(2);
    expect(hashesAtOnce(16, 4)).toBe(2);
    expect(hashesAtOnce(1, 4)).toBe(1);
    expect(hashesAtOnce(16, 8)).toBe(6);
    expect(hashesAtOnce(4, 2)).toBe(1);
  });

  it("still answers every one of a burst of concurrent verifications", async () => {
    const hash = await hashPassword("burst of logins");
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => verifyPassword(hash, i % 2 ? "burst of logins" : "nope")),
    );
    expect(answers).toEqual([false, true, false, true, false, true]);
  });
});
