import {
  CircuitBreaker,
  CircuitOpenError,
  CircuitState,
} from "../../lib/resilience/circuit-breaker";

/**
 * The circuit breaker's states with an injected clock: it opens after enough
 * failures within its window, refuses calls while open, lets one trial
 * through after the cool-down, and closes again (or reopens) on its result.
 */
describe("circuit breaker", () => {
  let now: number;
  let changes: string[];
  const breaker = (threshold = 3) =>
    new CircuitBreaker({
      failureThreshold: threshold,
      windowMs: 10_000,
      coolDownMs: 5_000,
      now: () => now,
      onStateChange: (from: CircuitState, to: CircuitState) => changes.push(`${from}→${to}`),
    });

  beforeEach(() => {
    now = 1_000_000;
    changes = [];
  });

  const fail = (b: CircuitBreaker) => {
    expect(b.tryAcquire()).toBe(true);
    b.recordFailure();
  };

  it("stays closed below the threshold and opens when it is reached", () => {
    const b = breaker(3);
    fail(b);
    fail(b);
    expect(b.state).toBe("closed");
    fail(b);
    expect(b.state).toBe("open");
    expect(b.tryAcquire()).toBe(false);
    expect(b.retryInMs).toBe(5_000);
    expect(changes).toEqual(["closed→open"]);
  });

  it("only counts failures within the window", () => {
    const b = breaker(3);
    fail(b);
    fail(b);
    now += 10_001;
    fail(b);
    expect(b.state).toBe("closed");
    fail(b);
    fail(b);
    expect(b.state).toBe("open");
  });

  it("lets one trial through after the cool-down and closes when it succeeds", () => {
    const b = breaker(1);
    fail(b);
    now += 4_999;
    expect(b.tryAcquire()).toBe(false);
    now += 1;
    expect(b.state).toBe("half-open");
    expect(b.tryAcquire()).toBe(true);
    // Other calls wait for the trial's result.
    expect(b.tryAcquire()).toBe(false);
    b.recordSuccess();
    expect(b.state).toBe("closed");
    expect(b.tryAcquire()).toBe(true);
    expect(changes).toEqual(["closed→open", "open→half-open", "half-open→closed"]);
  });

  it("reopens for a full cool-down when the trial fails", () => {
    const b = breaker(1);
    fail(b);
    now += 5_000;
    expect(b.tryAcquire()).toBe(true);
    b.recordFailure();
    expect(b.state).toBe("open");
    now += 4_999;
    expect(b.tryAcquire()).toBe(false);
    now += 1;
    expect(b.tryAcquire()).toBe(true);
  });

  it("starts counting afresh after it closed", () => {
    const b = breaker(2);
    fail(b);
    fail(b);
    now += 5_000;
    expect(b.tryAcquire()).toBe(true);
    b.recordSuccess();
    fail(b);
    expect(b.state).toBe("closed");
  });

  it("run() refuses while open and counts only what the caller calls a failure", async () => {
    const b = breaker(2);
    const clientError = Object.assign(new Error("400"), { status: 400 });
    const isFailure = (err: unknown) => (err as { status?: number }).status !== 400;
    for (let i = 0; i < 5; i++)
      await expect(b.run(() => Promise.reject(clientError), isFailure)).rejects.toBe(clientError);
    expect(b.state).toBe("closed");

    await expect(b.run(() => Promise.reject(new Error("ECONNRESET")))).rejects.toThrow(
      "ECONNRESET",
    );
    await expect(b.run(() => Promise.reject(new Error("ECONNRESET")))).rejects.toThrow(
      "ECONNRESET",
    );
    const called = jest.fn(async () => "ok");
    await expect(b.run(called)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(called).not.toHaveBeenCalled();

    now += 5_000;
    await expect(b.run(called)).resolves.toBe("ok");
    expect(b.state).toBe("closed");
  });
});
