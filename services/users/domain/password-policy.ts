import { AppError } from "../../../lib/errors";
import { COMMON_PASSWORDS } from "./common-passwords";

/**
 * Password rules (NIST SP 800-63B style): length bounds, no well-known
 * passwords, nothing derived from the account's own email. No composition
 * rules; length counts characters (code points), and nothing is ever cut.
 */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

/** Why a password is refused, in words fit for the API's error details; null when acceptable. */
export function passwordProblem(password: string, email?: string): string | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH)
    return `Password must be at least ${PASSWORD_MIN_LENGTH} characters long`;
  if (length > PASSWORD_MAX_LENGTH)
    return `Password must be at most ${PASSWORD_MAX_LENGTH} characters long`;
  const lowered = password.toLowerCase();
  if (COMMON_PASSWORDS.has(lowered)) return "Password is too common; choose a less guessable one";
  if (email && isDerivedFromEmail(lowered, email.trim().toLowerCase()))
    return "Password must not be the account's email address";
  return null;
}

/** Throws a 400 naming `field` when the password breaks a rule. */
export function assertAcceptablePassword(
  password: string,
  email?: string,
  field = "password",
): void {
  const problem = passwordProblem(password, email);
  if (problem) throw AppError.validation(problem, [{ field, message: problem }]);
}

function isDerivedFromEmail(loweredPassword: string, normalizedEmail: string): boolean {
  const localPart = normalizedEmail.split("@")[0];
  return loweredPassword === normalizedEmail || loweredPassword === localPart;
}
