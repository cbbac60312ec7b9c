/**
 * Runs at most `max` tasks at once within this process; the rest wait in
 * arrival order. For work that holds a scarce resource while it runs (a
 * libuv worker thread and the memory it touches), where a burst should queue
 * rather than take every thread at once.
 */
export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be ≥ 1, got ${max}`);
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((go) => this.waiting.push(go));
    else this.running++;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next in line, or give it back.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** Tasks waiting for a slot (for tests and status). */
  get queued(): number {
    return this.waiting.length;
  }
}
