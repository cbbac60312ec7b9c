/**
 * Every `intervalMs` on each orders node (0 disables it): cancels the orders
 * whose payment did not come in time, and forgets expired idempotency keys.
 * A sweep never overlaps the previous one; stop() waits for the one in
 * progress, so the database can be closed after it. Several nodes may sweep
 * at once: each cancellation is a guarded transition of a locked order.
 */
export interface SweepTasks {
  cancelOverdue(shouldStop: () => boolean): Promise<number>;
  purgeExpiredKeys(): Promise<number>;
}

export class OverdueSweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopping = false;

  constructor(
    private readonly tasks: SweepTasks,
    private readonly intervalMs: number,
    private readonly log: {
      info(message: string): void;
      error(message: string, err: unknown): void;
    },
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
    this.running = this.sweep()
      .catch((err) => this.log.error("Order sweep failed", err))
      .finally(() => {
        this.running = undefined;
      });
  }

  private async sweep(): Promise<void> {
    const cancelled = await this.tasks.cancelOverdue(() => this.stopping);
    if (cancelled)
      this.log.info(`Cancelled ${cancelled} order(s) whose payment did not come in time`);
    if (this.stopping) return;
    const purged = await this.tasks.purgeExpiredKeys();
    if (purged) this.log.info(`Forgot ${purged} expired idempotency key(s)`);
  }
}
