import {
  FailedJob,
  Job,
  JobHandler,
  JobOptions,
  JobQueue,
  QueueCounts,
  QueueFactory,
} from "./port";

/** Completed job ids remembered for de-duplication (BullMQ keeps as many, see bullmq.ts). */
const COMPLETED_IDS_KEPT = 10_000;
const DEFAULT_ATTEMPTS = 5;
const DEFAULT_BACKOFF_MS = 1000;

type State = "waiting" | "delayed" | "active" | "failed";

interface StoredJob {
  id: string;
  name: string;
  /** Kept as JSON, as BullMQ does: each attempt gets a fresh copy, and non-JSON data fails here too. */
  payload: string;
  attempts: number;
  backoffMs: number;
  attemptsMade: number;
  state: State;
  timer?: NodeJS.Timeout;
  failedReason?: string;
  finishedOn?: number;
}

/**
 * In-process job queue with BullMQ's contract: jobId de-duplication, attempts with
 * exponential backoff, delays, concurrency and a dead-job list. Jobs live in memory only;
 * a restart loses them (the embedded node's trade-off).
 */
export class MemoryJobQueue<T = unknown> implements JobQueue<T> {
  readonly adapter = "memory" as const;
  /** Every job not yet completed, by id. */
  private readonly jobs = new Map<string, StoredJob>();
  /** Ids of completed jobs, oldest first. */
  private readonly completed = new Set<string>();
  /** Ids of failed jobs in the order they failed. */
  private readonly failedIds = new Set<string>();
  private readonly waiting: StoredJob[] = [];
  private readonly running = new Set<Promise<void>>();
  private handler?: JobHandler<T>;
  private concurrency = 1;
  private nextId = 1;
  private closed = false;

  constructor(readonly name: string) {}

  async add(name: string, data: T, opts: JobOptions = {}): Promise<{ id: string }> {
    if (this.closed) throw new Error(`Queue "${this.name}" is closed`);
    if (opts.jobId !== undefined) {
      validateJobId(opts.jobId);
      if (this.jobs.has(opts.jobId) || this.completed.has(opts.jobId)) return { id: opts.jobId };
    }
    // Generated ids are integers, which custom ids may not be, so the two never collide.
    const id = opts.jobId ?? String(this.nextId++);
    const job: StoredJob = {
      id,
      name,
      payload: JSON.stringify(data) ?? "null",
      attempts: Math.max(1, opts.attempts ?? DEFAULT_ATTEMPTS),
      backoffMs: opts.backoffMs ?? DEFAULT_BACKOFF_MS,
      attemptsMade: 0,
      state: "waiting",
    };
    this.jobs.set(id, job);
    if (opts.delayMs && opts.delayMs > 0) this.delay(job, opts.delayMs);
    else this.enqueue(job);
    return { id };
  }

  process(handler: JobHandler<T>, opts: { concurrency?: number } = {}): void {
    if (this.handler) throw new Error(`Queue "${this.name}" already has a processor`);
    this.handler = handler;
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    this.pump();
  }

  async counts(): Promise<QueueCounts> {
    const counts: QueueCounts = { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 };
    for (const job of this.jobs.values()) counts[job.state]++;
    counts.completed = this.completed.size;
    return counts;
  }

  async failed(limit = 50): Promise<FailedJob<T>[]> {
    const newestFirst = [...this.failedIds].reverse().slice(0, limit);
    return newestFirst.map((id) => {
      const job = this.jobs.get(id)!;
      return {
        ...this.view(job),
        failedReason: job.failedReason ?? "",
        finishedOn: job.finishedOn,
      };
    });
  }

  async retryFailed(jobId?: string): Promise<number> {
    const ids = jobId === undefined ? [...this.failedIds] : [jobId];
    let retried = 0;
    for (const id of ids) {
      const job = this.jobs.get(id);
      if (job?.state !== "failed") continue;
      this.failedIds.delete(id);
      Object.assign(job, { attemptsMade: 0, failedReason: undefined, finishedOn: undefined });
      this.enqueue(job);
      retried++;
    }
    return retried;
  }

  async stopProcessing(): Promise<void> {
    // Jobs keep arriving and waiting; the next process() picks them up.
    this.handler = undefined;
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.jobs.values()) clearTimeout(job.timer);
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  private enqueue(job: StoredJob): void {
    job.state = "waiting";
    this.waiting.push(job);
    this.pump();
  }

  private delay(job: StoredJob, ms: number): void {
    job.state = "delayed";
    job.timer = setTimeout(() => {
      job.timer = undefined;
      this.enqueue(job);
    }, ms);
    // A pending retry must not keep the process alive on its own; close() clears it anyway.
    job.timer.unref();
  }

  private pump(): void {
    while (this.handler && !this.closed && this.running.size < this.concurrency) {
      const job = this.waiting.shift();
      if (!job) return;
      const run: Promise<void> = this.attempt(job, this.handler).finally(() => {
        this.running.delete(run);
        this.pump();
      });
      this.running.add(run);
    }
  }

  private async attempt(job: StoredJob, handler: JobHandler<T>): Promise<void> {
    job.state = "active";
    try {
      await handler(this.view(job));
      this.complete(job);
    } catch (err) {
      job.attemptsMade++;
      if (job.attemptsMade < job.attempts) {
        this.delay(job, Math.round(job.backoffMs * 2 ** (job.attemptsMade - 1)));
      } else {
        Object.assign(job, {
          state: "failed",
          failedReason: reasonOf(err),
          finishedOn: Date.now(),
        });
        this.failedIds.add(job.id);
      }
    }
  }

  private complete(job: StoredJob): void {
    this.jobs.delete(job.id);
    this.completed.add(job.id);
    if (this.completed.size > COMPLETED_IDS_KEPT) {
      this.completed.delete(this.completed.values().next().value!);
    }
  }

  private view(job: StoredJob): Job<T> {
    return {
      id: job.id,
      name: job.name,
      data: JSON.parse(job.payload) as T,
      attemptsMade: job.attemptsMade,
    };
  }
}

/** Queues by name for one node; `queue(name)` always returns the same queue. */
export class MemoryQueueFactory implements QueueFactory {
  readonly adapter = "memory" as const;
  private readonly queues = new Map<string, MemoryJobQueue>();

  queue<T = unknown>(name: string): JobQueue<T> {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new MemoryJobQueue(name);
      this.queues.set(name, queue);
    }
    return queue as JobQueue<T>;
  }

  opened(): JobQueue[] {
    return [...this.queues.values()];
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}

/** BullMQ's own rules for custom ids, so code that runs here also runs on Redis. */
function validateJobId(id: string): void {
  if (`${parseInt(id, 10)}` === id) throw new Error("Custom Id cannot be integers");
  if (id.includes(":")) throw new Error("Custom Id cannot contain :");
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
