/**
 * Runs a task every `intervalMs` on this node (0 disables it). A run never
 * overlaps the previous one; stop() waits for the one in progress, so the
 * database can be closed after it.
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
