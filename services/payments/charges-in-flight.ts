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
 *
 * `T` is what the recording answers (the payment as it committed it), which
 * the waiting webhook gets so that it need not read the payment again.
 */
export class ChargesInFlight<T> {
  private readonly pending = new Map<string, Promise<T>>();

  /** Runs `charge` (the request and the recording of its answer) as the order's charge in flight. */
  track(orderId: string, charge: () => Promise<T>): Promise<T> {
    const running = charge();
    this.pending.set(orderId, running);
    const done = () => {
      if (this.pending.get(orderId) === running) this.pending.delete(orderId);
    };
    running.then(done, done);
    return running;
  }

  /**
   * Once the order's charge in flight has finished, what its recording
   * answered; undefined at once when none is in flight, when it failed, or
   * after `maxWaitMs`.
   */
  async settled(orderId: string, maxWaitMs: number): Promise<T | undefined> {
    const running = this.pending.get(orderId);
    if (!running) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<undefined>(
      (resolve) => (timer = setTimeout(() => resolve(undefined), maxWaitMs)),
    );
    const answer = await Promise.race([running.then(same, nothing), waited]);
    clearTimeout(timer);
    return answer;
  }

  get size(): number {
    return this.pending.size;
  }
}

const same = <V>(value: V): V => value;
const nothing = (): undefined => undefined;
