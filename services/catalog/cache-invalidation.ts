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
