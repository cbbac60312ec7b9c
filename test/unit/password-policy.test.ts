import { AppError } from "../../lib/errors";
import {
  assertAcceptablePassword,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  passwordProblem,
} from "../../services/users/domain/password-policy";
import { COMMON_PASSWORDS } from "../../services/users/domain/common-passwords";

describe("password policy", () => {
  it("accepts a long, uncommon password", () => {
    expect(passwordProblem("correct horse battery staple", "ann@example.com")).toBeNull();
  });

  it("refuses passwords shorter than the minimum", () => {
    expect(passwordProblem("x".repeat(PASSWORD_MIN_LENGTH - 1))).toMatch(/at least 8/);
    expect(passwordProblem("Zq9#kLm2")).toBeNull();
  });

  it("accepts exactly the maximum and refuses one character more, never truncating", () => {
    const longest = "aB3$".repeat(PASSWORD_MAX_LENGTH / 4);
    expect(passwordProblem(longest)).toBeNull();
    expect(passwordProblem(`${longest}x`)).toMatch(/at most 128/);
  });

  it("counts characters, not bytes or UTF-16 units", () => {
    const emoji = "🔐".repeat(PASSWORD_MIN_LENGTH); // 8 characters, 16 UTF-16 units
    expect(passwordProblem(emoji)).toBeNull();
    expect(passwordProblem("🔐".repeat(PASSWORD_MIN_LENGTH - 1))).toMatch(/at least/);
  });

  it("refuses common passwords whatever their case", () => {
    expect(passwordProblem("password")).toMatch(/too common/);
    expect(passwordProblem("PassWord123")).toMatch(/too common/);
    expect(passwordProblem("QWERTYUIOP")).toMatch(/too common/);
    expect(passwordProblem("iloveyou1")).toMatch(/too common/);
  });

  it("keeps a list of a few hundred common passwords, stored lower-cased", () => {
    expect(COMMON_PASSWORDS.size).toBeGreaterThan(300);
    for (const entry of COMMON_PASSWORDS) expect(entry).toBe(entry.toLowerCase());
  });

  it("refuses the account's own email or its local part", () => {
    expect(passwordProblem("Ann.Smith@Example.com", " ann.smith@example.com")).toMatch(/email/);
    expect(passwordProblem("ann.smith", "ann.smith@example.com")).toMatch(/email/);
    expect(passwordProblem("ann.smith@example.org", "ann.smith@example.com")).toBeNull();
  });

  it("throws a validation error naming the field", () => {
    let caught: unknown;
    try {
      assertAcceptablePassword("short");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AppError);
    const error = caught as AppError;
    expect(error.code).toBe(400);
    expect(error.data).toMatchObject({ details: [{ field: "password" }] });
  });
});
