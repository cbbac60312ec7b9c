/**
 * Runs `run` every `intervalMs` on this node (0 disables it). A run never
 * overlaps the previous one; stop() waits for the one in progress, so the
 * store can be closed after it.
 */
export class PeriodicTask {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopping = false;

  constructor(
    private readonly name: string,
    private readonly run: () => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly log: { error(message: string, err: unknown): void },
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.stopping = false;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private tick(): void {
    if (this.running || this.stopping) return;
    this.running = this.run()
      .then(() => undefined)
      .catch((err) => this.log.error(`${this.name} failed`, err))
      .finally(() => {
        this.running = undefined;
      });
  }
}
