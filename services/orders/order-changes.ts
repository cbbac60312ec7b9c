import type { OrderStatus } from "../../lib/contracts/orders";

type Wake = (status: OrderStatus | undefined) => void;

/**
 * Lets a read wait for an order to change instead of the client polling
 * (`GET /orders/:id?whileStatus=…&wait=…`). Saga steps committed on this
 * node wake the order's waiters with its new status at once; a change made
 * on another orders node is seen at the next re-read, `recheckMs` later.
 * Waiters are capped per node: past the cap a read answers at once, as
 * without `wait`.
 */
export class OrderChanges {
  private readonly waiters = new Map<string, Set<Wake>>();
  private count = 0;
  private closed = false;

  constructor(
    private readonly maxWaiters = 5_000,
    readonly recheckMs = 1_000,
  ) {}

  /** Called once a change of the order has committed, with the status it left the order in. */
  changed(orderId: string, status?: OrderStatus): void {
    const set = this.waiters.get(orderId);
    if (!set) return;
    this.waiters.delete(orderId);
    for (const wake of set) wake(status);
  }

  /**
   * Reads the order, and while its status is `awaited` and `waitMs` is not
   * over, waits for a change and reads it again. A signalled status that is
   * still awaited costs no read. Answers the last read.
   *
   * With `peek` (the order's status alone, undefined when there is none to
   * show), the first look is that: an order still in an awaited status, as
   * it usually is right after checkout, is read whole only once it changes
   * or the wait is over.
   */
  async waitWhile<T extends { status: OrderStatus }>(
    orderId: string,
    waitMs: number,
    read: () => Promise<T>,
    awaited: (status: OrderStatus) => boolean,
    peek?: () => Promise<OrderStatus | undefined>,
  ): Promise<T> {
    const deadline = Date.now() + waitMs;
    let value: T | undefined;
    let status = peek ? await peek() : undefined;
    if (status === undefined || !awaited(status)) status = (value = await read()).status;
    while (awaited(status) && !this.closed && this.count < this.maxWaiters) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const last = left <= this.recheckMs;
      const signalled = await this.signalOrTimeout(orderId, Math.min(left, this.recheckMs));
      if (signalled && awaited(signalled) && Date.now() < deadline) continue;
      status = (value = await read()).status;
      // The last timer ends the wait. Timers keep their own millisecond clock, so
      // one can fire a millisecond before Date.now() reaches the deadline, and
      // the loop would wait that millisecond and read the order once more.
      if (last && !signalled) break;
    }
    return value ?? read();
  }

  /** Stopping: every waiter answers now, and new reads do not wait. */
  close(): void {
    this.closed = true;
    for (const id of [...this.waiters.keys()]) this.changed(id);
  }

  get waiting(): number {
    return this.count;
  }

  /** The status a change was signalled with, or undefined after `ms` (or when closing). */
  private signalOrTimeout(orderId: string, ms: number): Promise<OrderStatus | undefined> {
    return new Promise((resolve) => {
      let set = this.waiters.get(orderId);
      if (!set) this.waiters.set(orderId, (set = new Set()));
      this.count++;
      let settled = false;
      const done: Wake = (status) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const current = this.waiters.get(orderId);
        current?.delete(done);
        if (current?.size === 0) this.waiters.delete(orderId);
        this.count--;
        resolve(status);
      };
      const timer = setTimeout(() => done(undefined), ms);
      set.add(done);
    });
  }
}
