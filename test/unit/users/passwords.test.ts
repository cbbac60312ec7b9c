import {
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
});
