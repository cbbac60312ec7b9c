/**
 * Refreshes gauges that are read from storage (outbox backlog, queue
 * depths, dead letters): once at start, then every interval, one read at a
 * time. Prometheus scrapes synchronously, so these are sampled ahead of it.
 */
export interface SamplerLog {
  warn(...args: unknown[]): void;
  debug(...args: unknown[]): void;
}

export class PeriodicSampler {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = true;
  private failing = false;

  constructor(
    private readonly what: string,
    private readonly sample: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly log: SamplerLog,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), Math.max(50, this.intervalMs));
    this.timer.unref();
  }

  /** Stops sampling and waits for a read in progress (the store may close right after). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  private tick(): Promise<void> | undefined {
    if (this.running || this.stopped) return this.running;
    this.running = this.sample()
      .then(() => (this.failing = false))
      .catch((err: unknown) => {
        // A store that is down says so once, not every interval (readiness reports it too).
        const message = `Metrics: sampling ${this.what} failed: ${(err as Error)?.message ?? err}`;
        if (this.failing) this.log.debug(message);
        else this.log.warn(message);
        this.failing = true;
      })
      .then(() => undefined)
      .finally(() => (this.running = undefined));
    return this.running;
  }
}
