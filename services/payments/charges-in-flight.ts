/**
 * The charges this node is waiting on the provider for, by order id.
 *
 * A provider may send its webhook while the answer to the same charge request
 * is still being recorded here (the sandbox does it every time). Handled
 * then, the webhook opens a transaction that waits on the payment's lock, only
 * to find the answer recorded when it gets it. Waiting for that answer first,
 * for a bounded time, lets the webhook's unlocked check see it instead. A
 * webhook handled on another node, or after the wait, takes the locked path
 * as before: this only saves work, it guards nothing.
 */
export class ChargesInFlight {
  private readonly pending = new Map<string, Promise<unknown>>();

  /** Runs `charge` (the request and the recording of its answer) as the order's charge in flight. */
  track<T>(orderId: string, charge: () => Promise<T>): Promise<T> {
    const running = charge();
    this.pending.set(orderId, running);
    const done = () => {
      if (this.pending.get(orderId) === running) this.pending.delete(orderId);
    };
    running.then(done, done);
    return running;
  }

  /** Resolves once the order's charge in flight (if any) has finished, or after `maxWaitMs`. */
  async settled(orderId: string, maxWaitMs: number): Promise<void> {
    const running = this.pending.get(orderId);
    if (!running) return;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, maxWaitMs)));
    await Promise.race([running.then(noop, noop), waited]);
    clearTimeout(timer);
  }

  get size(): number {
    return this.pending.size;
  }
}

function noop(): void {}
