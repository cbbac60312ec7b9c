/**
 * Runs a task every `intervalMs` on this node (0 disables it): the services'
 * sweepers (reservation expiry, overdue orders, owed refunds, unqueued
 * notifications, guest carts). A run never overlaps the previous one; the
 * task is told when the node is stopping so a long sweep can end early, and
 * stop() waits for the run in progress, so the database can be closed after it.
 */
export class PeriodicTask {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopping = false;

  constructor(
    private readonly task: (shouldStop: () => boolean) => Promise<void>,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.stopping = false;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private tick(): void {
    if (this.running || this.stopping) return;
    this.running = this.task(() => this.stopping)
      .catch(this.onError)
      .finally(() => {
        this.running = undefined;
      });
  }
}
