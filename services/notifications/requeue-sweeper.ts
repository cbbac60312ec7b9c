/**
 * Runs `sweep` every `intervalMs` on this node (0 disables it): the
 * notifications that were recorded but never made it onto the queue (or
 * whose in-process queue died with its node) are put back. A sweep never
 * overlaps the previous one; stop() waits for the one in progress, so the
 * database can be closed after it.
 */
export class RequeueSweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopping = false;

  constructor(
    private readonly sweep: () => Promise<number>,
    private readonly intervalMs: number,
    private readonly log: { debug(message: string): void; warn(message: string): void },
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
      .then((count) => {
        if (count) this.log.debug(`Put ${count} unfinished notification(s) back on the queue`);
      })
      // Redis or the database away: the next sweep tries again.
      .catch((err: Error) => this.log.warn(`Notification sweep failed: ${err.message}`))
      .finally(() => {
        this.running = undefined;
      });
  }
}
