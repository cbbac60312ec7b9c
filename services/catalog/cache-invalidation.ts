/**
 * Single-flight with one trailing run: every call resolves after a run that
 * *started* after the call (so it saw the caller's committed change), while a
 * burst of calls (10,000 StockChanged messages during a seed) shares a few
 * runs instead of queueing one each.
 */
export class Coalesced {
  private running?: Promise<void>;
  private queued?: Promise<void>;

  constructor(private readonly fn: () => Promise<void>) {}

  run(): Promise<void> {
    if (!this.running) {
      const current = this.fn().finally(() => {
        if (this.running === current) this.running = undefined;
      });
      this.running = current;
      return current;
    }
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.run();
      });
    return this.queued;
  }
}

/**
 * Runs `fn` at most once per `intervalMs`: the first request after a quiet
 * interval at once, the requests during an interval once at its end, with
 * the items they named (each once). For changes readers may see up to
 * `intervalMs` late: a checkout changes stock twice per order, and cleaning
 * on each would leave the products' reads uncached while a shop is selling.
 */
export class Throttled<T> {
  private lastRun = Number.NEGATIVE_INFINITY;
  private timer?: NodeJS.Timeout;
  private pending = new Set<T>();

  constructor(
    private readonly fn: (items: T[]) => Promise<void>,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  request(item: T): void {
    this.pending.add(item);
    if (this.timer) return; // a run is already due
    const wait = this.lastRun + this.intervalMs - this.now();
    if (wait <= 0) {
      void this.runNow();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runNow();
    }, wait);
    this.timer.unref();
  }

  /** Runs at once a run that is due (on stop: no request is left unserved). */
  async flush(): Promise<void> {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.runNow();
  }

  private runNow(): Promise<void> {
    this.lastRun = this.now();
    const items = [...this.pending];
    this.pending = new Set();
    return this.fn(items).catch(this.onError);
  }
}
