import { PeriodicTask } from "../../lib/concurrency/periodic-task";

/**
 * Every `intervalMs` on each orders node (0 disables it): cancels the orders
 * whose payment did not come in time, and forgets expired idempotency keys.
 * Several nodes may sweep at once: each cancellation is a guarded transition
 * of a locked order.
 */
export interface SweepTasks {
  cancelOverdue(shouldStop: () => boolean): Promise<number>;
  purgeExpiredKeys(): Promise<number>;
}

export function overdueSweeper(
  tasks: SweepTasks,
  intervalMs: number,
  log: { info(message: string): void; error(message: string, err: unknown): void },
): PeriodicTask {
  return new PeriodicTask(
    async (shouldStop) => {
      const cancelled = await tasks.cancelOverdue(shouldStop);
      if (cancelled) log.info(`Cancelled ${cancelled} order(s) whose payment did not come in time`);
      if (shouldStop()) return;
      const purged = await tasks.purgeExpiredKeys();
      if (purged) log.info(`Forgot ${purged} expired idempotency key(s)`);
    },
    intervalMs,
    (err) => log.error("Order sweep failed", err),
  );
}
