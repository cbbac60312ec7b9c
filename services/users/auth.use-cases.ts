import { randomUUID } from "node:crypto";
import type { Transaction } from "sequelize";
import type { AccessClaims } from "../../lib/auth/jwt";
import { secretContext } from "../../lib/contracts/notifications";
import { AppError } from "../../lib/errors";
import type { MessageSealer } from "../../lib/messaging/sealing";
import type { BackgroundTasks } from "./background-tasks";
import type { LoginThrottle } from "./domain/login-throttle";
import { hashOpaqueToken } from "./domain/opaque-tokens";
import { assertAcceptablePassword } from "./domain/password-policy";
import { hashPassword, passwordHashNeedsUpgrade, verifyPassword } from "./domain/passwords";
import { issueRefreshToken, judgeRefreshToken } from "./domain/refresh-tokens";
import { issueResetToken, isResetTokenUsable, resetLink } from "./domain/reset-tokens";
import { normalizeEmail, OwnProfile, toOwnProfile, UserRecord } from "./domain/user";
import { isUniqueViolation } from "../../lib/infra/relational/errors";
import { UserRepository } from "./user-repository";
import { passwordResetRequested, userRegistered, UsersOutbox } from "./user-events";
import type { Transactional, UseCaseOrigin } from "./use-case-support";

/**
 * Accounts and sessions: register, login, refresh, logout, password reset,
 * and the configured admin account. Each use case is a short list of named
 * steps; persistence, hashing and token rules live in the modules imported above.
 */
export interface AuthSettings {
  accessTokenTtlSec: number;
  refreshTokenTtlSec: number;
  passwordResetTtlSec: number;
  passwordResetUrl: string;
}

export interface AuthDependencies {
  repository: UserRepository;
  database: Transactional;
  outbox: UsersOutbox;
  throttle: LoginThrottle;
  signAccessToken: (claims: AccessClaims) => string;
  /** Seals the reset link for the notification that carries it (lib/messaging/sealing.ts). */
  sealer: Pick<MessageSealer, "seal">;
  background: BackgroundTasks;
  settings: AuthSettings;
  warn: (message: string, details: Record<string, unknown>) => void;
  clock?: () => Date;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
}

export interface Registration {
  email: string;
  password: string;
  name: string;
}

export type AdminProvisioning = "created" | "promoted" | "unchanged";

type Rotation =
  | { kind: "rotated"; user: UserRecord; refreshToken: string }
  | { kind: "replayed"; userId: string; familyId: string }
  | { kind: "refused" };

export class AuthUseCases {
  private readonly repository: UserRepository;
  private readonly settings: AuthSettings;
  private readonly now: () => Date;

  constructor(private readonly deps: AuthDependencies) {
    this.repository = deps.repository;
    this.settings = deps.settings;
    this.now = deps.clock ?? (() => new Date());
  }

  /**
   * A taken email answers 409. Registration is the one place that tells an
   * email exists: the storefront needs to say "log in instead", and the
   * gateway's auth rate limit bounds probing. Login and forgot-password never tell.
   */
  async register(input: Registration, origin?: UseCaseOrigin): Promise<OwnProfile> {
    const email = normalizeEmail(input.email);
    assertAcceptablePassword(input.password, email);
    const passwordHash = await hashPassword(input.password);
    const user = await this.deps.database.transaction(async (tx) => {
      const created = await this.repository
        .insertUser({ id: randomUUID(), email, passwordHash, name: input.name }, tx)
        .catch(rethrowEmailTaken);
      await this.deps.outbox.enqueue(tx, userRegistered(created), origin);
      return created;
    });
    return toOwnProfile(user);
  }

  async login(input: { email: string; password: string }): Promise<TokenPair> {
    const email = normalizeEmail(input.email);
    await this.deps.throttle.assertAllowed(email);
    const user = await this.repository.findUserByEmail(email);
    // Runs a full verification even for unknown emails, so timing tells nothing.
    const passwordMatches = await verifyPassword(user?.passwordHash, input.password);
    if (!user || !passwordMatches) {
      await this.deps.throttle.recordFailure(email);
      throw AppError.unauthorized("Invalid email or password");
    }
    await this.deps.throttle.reset(email);
    await this.upgradePasswordHashIfOutdated(user, input.password);
    return this.startSession(user);
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    const outcome = await this.deps.database.transaction((tx) =>
      this.rotateRefreshToken(refreshToken, this.now(), tx),
    );
    if (outcome.kind === "replayed")
      this.deps.warn("Refresh token reuse: family revoked", {
        userId: outcome.userId,
        familyId: outcome.familyId,
      });
    if (outcome.kind !== "rotated") throw AppError.unauthorized("Invalid refresh token");
    return this.tokenPair(outcome.user, outcome.refreshToken);
  }

  /** Ends the session the token belongs to. Unknown tokens are accepted silently (idempotent). */
  async logout(refreshToken: string): Promise<void> {
    await this.deps.database.transaction(async (tx) => {
      const presented = await this.repository.lockRefreshTokenByHash(
        hashOpaqueToken(refreshToken),
        tx,
      );
      if (presented) await this.repository.revokeRefreshFamily(presented.familyId, this.now(), tx);
    });
  }

  /**
   * Answers the same, in about the same time, whether or not the email has an
   * account: the token is made in both cases, and the writes that only happen
   * for a known account (token row + outbox message, one transaction) run
   * after the response instead of on its path.
   */
  async requestPasswordReset(rawEmail: string, origin?: UseCaseOrigin): Promise<void> {
    const email = normalizeEmail(rawEmail);
    const user = await this.repository.findUserByEmail(email);
    const reset = issueResetToken(
      user?.id ?? randomUUID(),
      this.settings.passwordResetTtlSec,
      this.now(),
    );
    if (!user) return;
    this.deps.background.run("record password reset request", () =>
      this.deps.database.transaction(async (tx) => {
        await this.repository.insertResetToken(reset.record, tx);
        const link = resetLink(this.settings.passwordResetUrl, reset.token);
        const sealedLink = this.deps.sealer.seal(
          link,
          secretContext("password-reset", user.id, user.email),
        );
        await this.deps.outbox.enqueue(
          tx,
          passwordResetRequested(user, sealedLink, reset.record.expiresAt),
          origin,
        );
      }),
    );
  }

  async resetPassword(input: { token: string; password: string }): Promise<void> {
    const now = this.now();
    const resetToken = await this.repository.findResetTokenByHash(hashOpaqueToken(input.token));
    const user =
      resetToken && isResetTokenUsable(resetToken, now)
        ? await this.repository.findUserById(resetToken.userId)
        : null;
    if (!resetToken || !user) throw invalidResetToken();
    assertAcceptablePassword(input.password, user.email);
    const passwordHash = await hashPassword(input.password);
    await this.deps.database.transaction(async (tx) => {
      if (!(await this.repository.consumeResetToken(resetToken.id, now, tx)))
        throw invalidResetToken();
      await this.repository.updateUser(user.id, { passwordHash }, tx);
      await this.repository.expireResetTokensOf(user.id, now, tx);
      await this.repository.revokeAllRefreshTokensOf(user.id, now, tx);
    });
    await this.deps.throttle.reset(user.email);
  }

  /**
   * Makes ADMIN_EMAIL an admin with ADMIN_PASSWORD. Idempotent across restarts
   * and concurrent nodes: the unique email decides who creates the row, the
   * others promote it. Promoting an existing account revokes its sessions,
   * since whoever held them did not necessarily know the admin password.
   */
  async provisionAdmin(rawEmail: string, password: string): Promise<AdminProvisioning> {
    const email = normalizeEmail(rawEmail);
    assertAcceptablePassword(password, email, "ADMIN_PASSWORD");
    const existing = await this.repository.findUserByEmail(email);
    if (existing?.role === "admin" && (await verifyPassword(existing.passwordHash, password)))
      return "unchanged";
    const passwordHash = await hashPassword(password);
    if (!existing && (await this.createAdmin(email, passwordHash))) return "created";
    await this.deps.database.transaction(async (tx) => {
      const user = await this.repository.findUserByEmail(email, tx);
      if (!user) throw new Error("Admin account vanished while being provisioned");
      await this.repository.updateUser(user.id, { role: "admin", passwordHash }, tx);
      await this.repository.revokeAllRefreshTokensOf(user.id, this.now(), tx);
    });
    return "promoted";
  }

  // ---- steps

  /**
   * Uses up the presented token and issues its successor in the same family.
   * Returns instead of throwing when refusing, so that the revocation of a
   * replayed family commits before the 401 goes out.
   */
  private async rotateRefreshToken(
    refreshToken: string,
    now: Date,
    tx: Transaction,
  ): Promise<Rotation> {
    const presented = await this.repository.lockRefreshTokenByHash(
      hashOpaqueToken(refreshToken),
      tx,
    );
    if (!presented) return { kind: "refused" };
    const verdict = judgeRefreshToken(presented, now);
    if (verdict === "expired") return { kind: "refused" };
    // The conditional update decides races: of two refreshes with one token, one wins.
    const firstUse =
      verdict === "rotate" && (await this.repository.markRefreshTokenUsed(presented.id, now, tx));
    if (!firstUse) {
      await this.repository.revokeRefreshFamily(presented.familyId, now, tx);
      return { kind: "replayed", userId: presented.userId, familyId: presented.familyId };
    }
    const user = await this.repository.findUserById(presented.userId, tx);
    if (!user) return { kind: "refused" };
    const { refreshTokenTtlSec } = this.settings;
    const next = issueRefreshToken(user.id, refreshTokenTtlSec, now, presented.familyId);
    await this.repository.insertRefreshToken(next.record, tx);
    return { kind: "rotated", user, refreshToken: next.token };
  }

  private async startSession(user: UserRecord): Promise<TokenPair> {
    const issued = issueRefreshToken(user.id, this.settings.refreshTokenTtlSec, this.now());
    await this.deps.database.transaction((tx) =>
      this.repository.insertRefreshToken(issued.record, tx),
    );
    return this.tokenPair(user, issued.token);
  }

  private tokenPair(user: UserRecord, refreshToken: string): TokenPair {
    return {
      accessToken: this.deps.signAccessToken({ sub: user.id, role: user.role }),
      refreshToken,
      expiresIn: this.settings.accessTokenTtlSec,
    };
  }

  /** Hashes made with older parameters are replaced while the plain password is at hand. */
  private async upgradePasswordHashIfOutdated(user: UserRecord, password: string): Promise<void> {
    if (!passwordHashNeedsUpgrade(user.passwordHash)) return;
    const passwordHash = await hashPassword(password);
    await this.deps.database.transaction((tx) =>
      this.repository.updateUser(user.id, { passwordHash }, tx),
    );
  }

  /** False when another node created the account first. */
  private async createAdmin(email: string, passwordHash: string): Promise<boolean> {
    try {
      await this.deps.database.transaction((tx) =>
        this.repository.insertUser(
          { id: randomUUID(), email, passwordHash, name: "Administrator", role: "admin" },
          tx,
        ),
      );
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }
}

function rethrowEmailTaken(err: unknown): never {
  if (isUniqueViolation(err)) {
    const message = "An account with this email already exists";
    throw AppError.conflict(message, [{ field: "email", message }]);
  }
  throw err;
}

function invalidResetToken(): AppError {
  const message = "The reset token is invalid, used or expired";
  return AppError.validation(message, [{ field: "token", message }]);
}
