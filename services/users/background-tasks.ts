/**
 * Work started by a request but deliberately not awaited on its response
 * path (see forgot-password). Tracked so the service can let it finish before
 * its database closes, and so failures are logged instead of lost.
 */
export class BackgroundTasks {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly onError: (task: string, err: unknown) => void) {}

  run(task: string, work: () => Promise<void>): void {
    const running: Promise<void> = work()
      .catch((err: unknown) => this.onError(task, err))
      .finally(() => this.running.delete(running));
    this.running.add(running);
  }

  /** Resolves once everything started so far has settled. */
  async drain(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }
}
