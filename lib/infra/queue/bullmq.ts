import { Job as BullJob, Queue, Worker } from "bullmq";
import type { Redis, RedisOptions } from "ioredis";
import { closeClient, pingWithin, redisClient } from "../kv/redis";
import {
  FailedJob,
  Job,
  JobHandler,
  JobOptions,
  JobQueue,
  QueueCounts,
  QueueFactory,
} from "./port";

/**
 * BullMQ forgets a jobId once the job is removed, after which the same id is accepted
 * again; keeping this many completed jobs is what makes de-duplication hold in practice.
 */
const COMPLETED_JOBS_KEPT = 10_000;
const DEFAULT_ATTEMPTS = 5;
const DEFAULT_BACKOFF_MS = 1000;
const PING_TIMEOUT_MS = 2000;
/** How long a queue call waits for a connection before failing (BullMQ alone would wait forever). */
const CONNECT_WAIT_MS = 3000;

interface Connections {
  /** Queue commands: bounded retries, so add() fails rather than hangs while Redis is down. */
  producer: Redis;
  /** Workers: BullMQ requires maxRetriesPerRequest null (it duplicates this for blocking reads). */
  consumer: Redis;
  prefix: string;
  warn: (err: Error) => void;
}

/** One BullMQ queue and, once process() is called, its worker. */
export class BullMqJobQueue<T = unknown> implements JobQueue<T> {
  readonly adapter = "bullmq" as const;
  private readonly queue: Queue;
  private worker?: Worker;

  constructor(
    readonly name: string,
    private readonly connections: Connections,
  ) {
    this.queue = new Queue(name, { connection: connections.producer, prefix: connections.prefix });
    this.queue.on("error", connections.warn);
  }

  async add(name: string, data: T, opts: JobOptions = {}): Promise<{ id: string }> {
    await this.connected();
    const job = await this.queue.add(name, data, {
      jobId: opts.jobId,
      attempts: opts.attempts ?? DEFAULT_ATTEMPTS,
      backoff: { type: "exponential", delay: opts.backoffMs ?? DEFAULT_BACKOFF_MS },
      delay: opts.delayMs,
      removeOnComplete: { count: COMPLETED_JOBS_KEPT },
      // Failed jobs stay: they are the dead-job list.
      removeOnFail: false,
    });
    return { id: job.id! };
  }

  process(handler: JobHandler<T>, opts: { concurrency?: number } = {}): void {
    if (this.worker) throw new Error(`Queue "${this.name}" already has a processor`);
    const { consumer, prefix, warn } = this.connections;
    this.worker = new Worker(this.name, (job: BullJob) => handler(toJob<T>(job)), {
      connection: consumer,
      prefix,
      concurrency: Math.max(1, opts.concurrency ?? 1),
    });
    this.worker.on("error", warn);
  }

  async counts(): Promise<QueueCounts> {
    await this.connected();
    const c = await this.queue.getJobCounts("waiting", "active", "delayed", "completed", "failed");
    return {
      waiting: c.waiting ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
    };
  }

  async failed(limit = 50): Promise<FailedJob<T>[]> {
    if (limit <= 0) return [];
    await this.connected();
    const jobs = await this.queue.getFailed(0, limit - 1); // newest first
    return jobs.map((job) => ({
      ...toJob<T>(job),
      failedReason: job.failedReason,
      finishedOn: job.finishedOn,
    }));
  }

  async retryFailed(jobId?: string): Promise<number> {
    await this.connected();
    const ids = jobId === undefined ? await this.queue.getRanges(["failed"], 0, -1) : [jobId];
    let retried = 0;
    for (const id of ids) {
      const job = await this.queue.getJob(id);
      if (!job || !(await job.isFailed())) continue;
      // BullMQ keeps attemptsMade on retry by default; the port promises fresh attempts.
      await job.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
      retried++;
    }
    return retried;
  }

  /**
   * BullMQ waits for the first connection without a time limit; this makes a call made while
   * Redis is unreachable fail instead. Once connected, the client's bounded retries apply.
   */
  private async connected(): Promise<void> {
    const client = this.connections.producer;
    if (client.status === "ready") return;
    if (client.status === "end") throw new Error(`Job queue "${this.name}" is closed`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off("ready", onReady);
        reject(new Error(`Job queue "${this.name}": Redis not reachable`));
      }, CONNECT_WAIT_MS);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      client.once("ready", onReady);
    });
  }

  async stopProcessing(): Promise<void> {
    // Worker.close() lets the jobs in hand finish before it resolves.
    const worker = this.worker;
    this.worker = undefined;
    await worker?.close();
  }

  async close(): Promise<void> {
    await this.stopProcessing();
    await this.queue.close();
  }
}

/** BullMQ queues on Redis, one per name, with keys under the given prefix. */
export class BullMqQueueFactory implements QueueFactory {
  readonly adapter = "bullmq" as const;
  private readonly connections: Connections;
  private readonly queues = new Map<string, BullMqJobQueue>();

  /** `connection`: a redis:// URL, or connection options (lib/infra/tls.ts, with TLS). */
  constructor(connection: string | RedisOptions, prefix: string) {
    const warn = throttledWarning("job queue");
    const producer = redisClient(connection, { maxRetriesPerRequest: 2, connectTimeout: 5000 });
    // Connects on the first worker, so a node that only adds jobs holds one connection.
    const consumer = redisClient(connection, { maxRetriesPerRequest: null, lazyConnect: true });
    producer.on("error", warn);
    consumer.on("error", warn);
    this.connections = { producer, consumer, prefix, warn };
  }

  queue<T = unknown>(name: string): JobQueue<T> {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new BullMqJobQueue(name, this.connections);
      this.queues.set(name, queue);
    }
    return queue as JobQueue<T>;
  }

  opened(): JobQueue[] {
    return [...this.queues.values()];
  }

  async ping(): Promise<boolean> {
    return pingWithin(this.connections.producer, PING_TIMEOUT_MS);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
    await Promise.all([
      closeClient(this.connections.producer),
      closeClient(this.connections.consumer),
    ]);
  }
}

function toJob<T>(job: BullJob): Job<T> {
  return { id: job.id!, name: job.name, data: job.data as T, attemptsMade: job.attemptsMade };
}

/**
 * The clients, queues and workers all report the same outage, and ioredis repeats it on every
 * reconnect attempt: log each distinct message at most once a minute.
 */
function throttledWarning(what: string): (err: Error) => void {
  const lastLogged = new Map<string, number>();
  return (err) => {
    const now = Date.now();
    if (now - (lastLogged.get(err.message) ?? 0) < 60_000) return;
    lastLogged.set(err.message, now);
    console.warn(`Redis ${what}: ${err.message}`);
  };
}
