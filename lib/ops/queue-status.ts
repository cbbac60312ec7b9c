import { AppError } from "../errors";
import type { JobQueue, QueueCounts } from "../infra/queue/port";

/**
 * What a service that owns job queues tells operators about them (actions
 * `<service>.queueStatus` and `<service>.retryFailedJobs`, used by the REPL's
 * `queues` command). In-process queues live on their node, so the answer is
 * the node's; BullMQ queues are shared, so every node answers the same.
 */
export interface FailedJobSummary {
  id: string;
  name: string;
  attemptsMade: number;
  failedReason: string;
  /** ISO time of the last failure, when the queue recorded it. */
  failedAt: string | null;
}

export interface QueueReport {
  queue: string;
  adapter: JobQueue["adapter"];
  counts: QueueCounts;
  /** The most recent failed jobs (the dead-job list), newest first. */
  failedJobs: FailedJobSummary[];
}

export interface QueueStatusAnswer {
  service: string;
  queues: QueueReport[];
}

export interface RetryFailedJobsParams {
  queue: string;
  /** One failed job; unset: every failed job of the queue. */
  jobId?: string;
}

export interface RetryFailedJobsAnswer {
  service: string;
  queue: string;
  retried: number;
}

/** Failed jobs listed per queue: enough to act on, short enough to read. */
export const FAILED_JOBS_SHOWN = 20;

export const queueStatusParams = { $$strict: true };

export const retryFailedJobsParams = {
  $$strict: true,
  queue: { type: "string", min: 1, max: 100 },
  jobId: { type: "string", min: 1, max: 200, optional: true },
};

export async function queueReport(queue: JobQueue): Promise<QueueReport> {
  const [counts, failed] = await Promise.all([queue.counts(), queue.failed(FAILED_JOBS_SHOWN)]);
  return {
    queue: queue.name,
    adapter: queue.adapter,
    counts,
    failedJobs: failed.map((job) => ({
      id: job.id,
      name: job.name,
      attemptsMade: job.attemptsMade,
      failedReason: job.failedReason,
      failedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    })),
  };
}

/** The service's queue of that name, or a 404 naming the queues it has. */
export function queueNamed<Q extends JobQueue>(queues: Q[], name: string): Q {
  const queue = queues.find((q) => q.name === name);
  if (!queue)
    throw new AppError("NOT_FOUND", `Queue "${name}" not found`, [
      { field: "queue", message: `one of ${queues.map((q) => q.name).join(", ")}` },
    ]);
  return queue;
}
