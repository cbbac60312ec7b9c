/**
 * Lets a read wait for an order to change instead of the client polling
 * (`GET /orders/:id?wait=…&whileStatus=…`). Saga steps committed on this
 * node wake the waiters of their order at once; a step committed on another
 * orders node is seen at the next re-read, `recheckMs` later. Waiters are
 * capped per node: past the cap a read answers at once, as without `wait`.
 */
export class OrderChanges {
  private readonly waiters = new Map<string, Set<() => void>>();
  private count = 0;
  private closed = false;

  constructor(
    private readonly maxWaiters = 5_000,
    readonly recheckMs = 250,
  ) {}

  /** Called once a change of the order has committed. */
  changed(orderId: string): void {
    const set = this.waiters.get(orderId);
    if (!set) return;
    this.waiters.delete(orderId);
    for (const wake of set) wake();
  }

  /**
   * Re-reads the order until `stillWaiting` says otherwise or `waitMs` is
   * over, sleeping between reads until its change is signalled (or for
   * `recheckMs` at most). Answers the last read.
   */
  async waitWhile<T>(
    orderId: string,
    waitMs: number,
    read: () => Promise<T>,
    stillWaiting: (value: T) => boolean,
  ): Promise<T> {
    let value = await read();
    const deadline = Date.now() + waitMs;
    while (stillWaiting(value) && !this.closed && this.count < this.maxWaiters) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await this.signalOrTimeout(orderId, Math.min(left, this.recheckMs));
      value = await read();
    }
    return value;
  }

  /** Stopping: every waiter answers now, and new reads do not wait. */
  close(): void {
    this.closed = true;
    for (const id of [...this.waiters.keys()]) this.changed(id);
  }

  get waiting(): number {
    return this.count;
  }

  private signalOrTimeout(orderId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(orderId);
      if (!set) this.waiters.set(orderId, (set = new Set()));
      this.count++;
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.waiters.get(orderId)?.delete(done);
        if (this.waiters.get(orderId)?.size === 0) this.waiters.delete(orderId);
        this.count--;
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }
}
