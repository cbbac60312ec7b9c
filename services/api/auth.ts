import type { AccessClaims } from "../../lib/auth/jwt";
import type { RequestMeta } from "../../lib/auth/meta";
import { AppError } from "../../lib/errors";

/**
 * Who may call an action, from its `auth` property. Secure by default: an
 * action that says nothing needs a signed-in user.
 */
export type AuthLevel = "public" | "user" | "admin";
export type AuthenticatedUser = NonNullable<RequestMeta["user"]>;
export type TokenVerifier = (token: string) => AccessClaims | null;

export function authLevelOf(action: { auth?: unknown } | undefined): AuthLevel {
  const auth = action?.auth;
  return auth === "public" || auth === "admin" ? auth : "user";
}

/**
 * The caller allowed to run an action at `level`, or undefined for an
 * anonymous caller of a public action. Throws 401 when a token is needed and
 * missing or invalid, 403 when the role is not enough.
 *
 * On public actions a bad token is ignored rather than refused: the route works
 * without one, and a client holding an expired token must still reach
 * /auth/refresh and /auth/login.
 */
export function authorize(
  level: AuthLevel,
  authorizationHeader: string | undefined,
  verify: TokenVerifier,
): AuthenticatedUser | undefined {
  const token = bearerToken(authorizationHeader);
  const claims = token ? safeVerify(verify, token) : null;
  if (level === "public") return claims ? { id: claims.sub, role: claims.role } : undefined;
  if (authorizationHeader === undefined) throw AppError.unauthorized("Authentication required");
  if (!claims) throw AppError.unauthorized("Invalid or expired access token");
  if (level === "admin" && claims.role !== "admin") throw AppError.forbidden("Admin role required");
  return { id: claims.sub, role: claims.role };
}

/** The token of an `Authorization: Bearer <token>` header; null for any other shape. */
export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header ?? "");
  return match ? match[1] : null;
}

function safeVerify(verify: TokenVerifier, token: string): AccessClaims | null {
  try {
    return verify(token);
  } catch {
    // A verifier must not turn a hostile token into a 500.
    return null;
  }
}
