import { AppError } from "../../../lib/errors";
import { MemoryKeyValueStore } from "../../../lib/infra/kv/memory";
import { LoginThrottle } from "../../../services/users/domain/login-throttle";

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    return err as AppError;
  }
  throw new Error("expected a rejection");
}

describe("login throttle", () => {
  const kv = new MemoryKeyValueStore();
  afterAll(() => kv.close());

  it("allows up to the limit of failures, then refuses every attempt with retryAfter", async () => {
    const throttle = new LoginThrottle(kv, { maxFailures: 3, windowSec: 60 });
    const email = "limit@example.com";
    for (let i = 0; i < 3; i++) {
      await throttle.assertAllowed(email);
      await throttle.recordFailure(email);
    }
    const refused = await rejection(throttle.assertAllowed(email));
    expect(refused.code).toBe(429);
    expect(refused.data).toMatchObject({ retryAfter: expect.any(Number) });
    expect((refused.data as { retryAfter: number }).retryAfter).toBeGreaterThan(0);
    expect((refused.data as { retryAfter: number }).retryAfter).toBeLessThanOrEqual(60);
  });

  it("refuses a failure that goes over the limit (concurrent attempts)", async () => {
    const throttle = new LoginThrottle(kv, { maxFailures: 1, windowSec: 60 });
    await throttle.recordFailure("race@example.com");
    expect((await rejection(throttle.recordFailure("race@example.com"))).code).toBe(429);
  });

  it("counts per account and starts afresh after a reset", async () => {
    const throttle = new LoginThrottle(kv, { maxFailures: 1, windowSec: 60 });
    await throttle.recordFailure("a@example.com");
    await throttle.assertAllowed("b@example.com");
    await expect(throttle.assertAllowed("a@example.com")).rejects.toBeInstanceOf(AppError);
    await throttle.reset("a@example.com");
    await throttle.assertAllowed("a@example.com");
  });

  it("ends the lockout with the window", async () => {
    const throttle = new LoginThrottle(kv, { maxFailures: 1, windowSec: 0.05 });
    await throttle.recordFailure("window@example.com");
    await expect(throttle.assertAllowed("window@example.com")).rejects.toBeInstanceOf(AppError);
    await new Promise((r) => setTimeout(r, 80));
    await throttle.assertAllowed("window@example.com");
  });

  it("does nothing when the limit is 0", async () => {
    const throttle = new LoginThrottle(kv, { maxFailures: 0, windowSec: 60 });
    for (let i = 0; i < 5; i++) await throttle.recordFailure("off@example.com");
    await throttle.assertAllowed("off@example.com");
  });
});
