/**
 * Job queue port: work that must be retried with backoff and never lost
 * (notification sends, payment callbacks). BullMQ on Redis when REDIS_URL is
 * set; an in-process queue with the same retry/backoff/dead-job contract
 * otherwise.
 */
export interface JobOptions {
  /**
   * De-duplication id: adding a job whose id exists (waiting, active, completed or failed) is a
   * no-op. BullMQ's rules apply to both adapters: not an integer-looking string, no ":".
   */
  jobId?: string;
  /** Total attempts including the first (default 5). */
  attempts?: number;
  /** First retry delay; doubles on each further attempt (default 1000). */
  backoffMs?: number;
  /** Delay before the first attempt. */
  delayMs?: number;
}

/** Job data travels as JSON (a Date arrives as a string), in both adapters. */
export interface Job<T = unknown> {
  id: string;
  name: string;
  data: T;
  /** Attempts already made before this one. */
  attemptsMade: number;
}

export interface FailedJob<T = unknown> extends Job<T> {
  failedReason: string;
  finishedOn?: number;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

export type JobHandler<T> = (job: Job<T>) => Promise<unknown>;

export interface JobQueue<T = unknown> {
  readonly name: string;
  readonly adapter: "bullmq" | "memory";
  add(name: string, data: T, opts?: JobOptions): Promise<{ id: string }>;
  /** Starts consuming. A handler that throws is retried with exponential backoff, then kept as failed. */
  process(handler: JobHandler<T>, opts?: { concurrency?: number }): void; // once per queue
  counts(): Promise<QueueCounts>;
  /** Jobs that used up their attempts (the dead-job list), newest first (default limit 50). */
  failed(limit?: number): Promise<FailedJob<T>[]>;
  /** Moves failed jobs (one id, or all) back to waiting with fresh attempts; returns how many. */
  retryFailed(jobId?: string): Promise<number>;
  /**
   * Stops this node's consumer after the jobs in hand finish. The queue stays
   * usable (add, counts) and `process` may be called again: a service that is
   * stopped or hot-reloaded calls this, not close().
   */
  stopProcessing(): Promise<void>;
  /** Stops consuming after the jobs in hand finish, and closes the queue (node shutdown). */
  close(): Promise<void>;
}

export interface QueueFactory {
  readonly adapter: "bullmq" | "memory";
  queue<T = unknown>(name: string): JobQueue<T>;
  /** The queues this node has asked for so far (what its metrics report on). */
  opened(): JobQueue[];
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
