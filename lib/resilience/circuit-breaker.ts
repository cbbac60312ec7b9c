/**
 * Circuit breaker for calls to a remote dependency (the payment provider).
 *
 *   closed ──(failureThreshold failures within windowMs)──▶ open
 *   open ──(coolDownMs elapsed)──▶ half-open: one trial call is let through
 *   half-open ──trial succeeds──▶ closed      half-open ──trial fails──▶ open
 *
 * While open, calls are refused at once instead of piling up on a dependency
 * that is down. What counts as a failure is the caller's decision (for an
 * HTTP API: network errors, timeouts and 5xx, not 4xx answers). The clock is
 * injectable so the transitions can be tested without waiting.
 */
export type CircuitState = "closed" | "open" | "half-open";

export interface CircuitBreakerOptions {
  /** Failures within `windowMs` that open the circuit. */
  failureThreshold: number;
  windowMs: number;
  /** How long the circuit stays open before a trial call is allowed. */
  coolDownMs: number;
  /** Epoch milliseconds (default Date.now). */
  now?: () => number;
  onStateChange?: (from: CircuitState, to: CircuitState) => void;
}

export class CircuitOpenError extends Error {
  override readonly name = "CircuitOpenError";
  constructor(readonly retryInMs: number) {
    super(`circuit open: calls refused for another ${retryInMs} ms`);
  }
}

export class CircuitBreaker {
  private current: CircuitState = "closed";
  /** Times of recent failures while closed, oldest first. */
  private failures: number[] = [];
  private openedAt = 0;
  private trialInFlight = false;
  private readonly now: () => number;

  constructor(private readonly opts: CircuitBreakerOptions) {
    if (opts.failureThreshold < 1) throw new Error("failureThreshold must be at least 1");
    this.now = opts.now ?? Date.now;
  }

  /** The state now (an open circuit whose cool-down is over reads as half-open). */
  get state(): CircuitState {
    if (this.current === "open" && this.now() - this.openedAt >= this.opts.coolDownMs)
      this.moveTo("half-open");
    return this.current;
  }

  /** Milliseconds until an open circuit lets a trial through (0 when not open). */
  get retryInMs(): number {
    return this.state === "open"
      ? Math.max(0, this.openedAt + this.opts.coolDownMs - this.now())
      : 0;
  }

  /**
   * Asks to make one call. True when it may go ahead: the caller must then
   * report its result with recordSuccess or recordFailure. False while open,
   * and in half-open while the trial call is still out.
   */
  tryAcquire(): boolean {
    switch (this.state) {
      case "closed":
        return true;
      case "open":
        return false;
      case "half-open":
        if (this.trialInFlight) return false;
        this.trialInFlight = true;
        return true;
    }
  }

  recordSuccess(): void {
    if (this.current === "half-open") {
      this.trialInFlight = false;
      this.failures = [];
      this.moveTo("closed");
    }
  }

  recordFailure(): void {
    const now = this.now();
    if (this.current === "half-open") {
      this.trialInFlight = false;
      this.open(now);
      return;
    }
    if (this.current === "open") return;
    this.failures.push(now);
    this.failures = this.failures.filter((t) => now - t < this.opts.windowMs);
    if (this.failures.length >= this.opts.failureThreshold) this.open(now);
  }

  /**
   * Runs `fn` through the breaker: refused with CircuitOpenError while open;
   * a throw counts as a failure unless `isFailure` says otherwise.
   */
  async run<T>(
    fn: () => Promise<T>,
    isFailure: (err: unknown) => boolean = () => true,
  ): Promise<T> {
    if (!this.tryAcquire()) throw new CircuitOpenError(this.retryInMs);
    try {
      const result = await fn();
      this.recordSuccess();
      return result;
    } catch (err) {
      if (isFailure(err)) this.recordFailure();
      else this.recordSuccess();
      throw err;
    }
  }

  private open(now: number): void {
    this.openedAt = now;
    this.failures = [];
    this.moveTo("open");
  }

  private moveTo(next: CircuitState): void {
    const previous = this.current;
    if (previous === next) return;
    this.current = next;
    this.opts.onStateChange?.(previous, next);
  }
}
