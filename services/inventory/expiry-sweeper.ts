/**
 * Runs the expiry sweep every `intervalMs` on this node (0 disables it). A
 * sweep never overlaps the previous one; stop() waits for the one in
 * progress, so the database can be closed after it.
 */
export class ExpirySweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopping = false;

  constructor(
    private readonly sweep: (shouldStop: () => boolean) => Promise<number>,
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
    this.running = this.sweep(() => this.stopping)
      .then((released) => {
        if (released) this.log.info(`Released ${released} expired reservation(s)`);
      })
      .catch((err) => this.log.error("Reservation expiry sweep failed", err))
      .finally(() => {
        this.running = undefined;
      });
  }
}
