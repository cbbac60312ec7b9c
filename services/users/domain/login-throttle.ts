import { AppError } from "../../../lib/errors";
import type { KeyValueStore } from "../../../lib/infra/kv/port";

/**
 * Per-account login throttling: a fixed-window counter of failed logins per
 * (normalised) email, shared by every node through the key-value store. Once
 * more than `maxFailures` failures fall in one window, every attempt gets 429
 * until the window ends — the right password included, or the counter would
 * not slow down guessing. Unknown emails are counted the same way, so the
 * throttle does not tell which accounts exist.
 */
export interface LoginThrottleSettings {
  /** Failures allowed per window; 0 turns the throttle off. */
  maxFailures: number;
  windowSec: number;
}

export class LoginThrottle {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly settings: LoginThrottleSettings,
  ) {}

  /** Throws 429 (with retryAfter) when the account is locked out for now. */
  async assertAllowed(email: string): Promise<void> {
    if (!this.enabled) return;
    const failures = Number((await this.kv.get(this.key(email))) ?? 0);
    if (failures < this.settings.maxFailures) return;
    // Counting the refused attempt is harmless (the window is fixed) and yields the time left.
    const { ttlMs } = await this.kv.increment(this.key(email), this.windowMs);
    throw tooManyAttempts(ttlMs);
  }

  /** Counts a failure; throws 429 when it goes over the limit. */
  async recordFailure(email: string): Promise<void> {
    if (!this.enabled) return;
    const { count, ttlMs } = await this.kv.increment(this.key(email), this.windowMs);
    if (count > this.settings.maxFailures) throw tooManyAttempts(ttlMs);
  }

  /** After a successful login (or a password reset) the account starts afresh. */
  async reset(email: string): Promise<void> {
    await this.kv.del(this.key(email));
  }

  private get enabled(): boolean {
    return this.settings.maxFailures > 0;
  }

  private get windowMs(): number {
    return this.settings.windowSec * 1000;
  }

  private key(email: string): string {
    return `login-fail:${email}`;
  }
}

function tooManyAttempts(ttlMs: number): AppError {
  return AppError.rateLimited(
    Math.max(1, Math.ceil(ttlMs / 1000)),
    "Too many failed login attempts; try again later",
  );
}
