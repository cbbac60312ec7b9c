import { Queue } from "bullmq";
import Redis from "ioredis";
import { BullMqQueueFactory } from "../../lib/infra/queue/bullmq";
import { MemoryQueueFactory } from "../../lib/infra/queue/memory";
import type { Job, JobQueue, QueueFactory } from "../../lib/infra/queue/port";
import { adaptersFor, freshRedisPrefix, servers, uniqueName } from "../helpers/servers";
import { sleep, waitFor } from "../helpers/wait";

interface Payload {
  n: number;
}

describe.each(adaptersFor("redis"))("job queue contract (%s)", (adapter) => {
  const prefix = `${freshRedisPrefix()}q`;
  let factory: QueueFactory;
  let queue: JobQueue<Payload>;
  /** Every queue name used, for the clean-up after the suite. */
  const names: string[] = [];

  beforeEach(() => {
    factory =
      adapter === "redis"
        ? new BullMqQueueFactory(servers.redis!, prefix)
        : new MemoryQueueFactory();
    // Each test gets its own queue, so leftovers of one never reach another.
    const name = uniqueName("q");
    names.push(name);
    queue = factory.queue<Payload>(name);
  });

  afterEach(async () => {
    await factory.close();
  });

  afterAll(async () => {
    if (adapter === "redis") await obliterate(servers.redis!, prefix, names);
  });

  /** Records every call, then runs `behaviour`. */
  function recorder(behaviour: (job: Job<Payload>) => Promise<unknown> = async () => undefined) {
    const calls: { job: Job<Payload>; at: number }[] = [];
    const handler = async (job: Job<Payload>) => {
      calls.push({ job, at: Date.now() });
      return behaviour(job);
    };
    return { calls, handler };
  }

  it("returns the same queue for the same name", () => {
    expect(factory.queue(queue.name)).toBe(queue);
    expect(queue.adapter).toBe(adapter === "redis" ? "bullmq" : "memory");
  });

  it("answers ping", async () => {
    expect(await factory.ping()).toBe(true);
  });

  it("processes a job once, with its name, data and id", async () => {
    const { calls, handler } = recorder();
    queue.process(handler);
    const { id } = await queue.add("send", { n: 1 });

    await waitFor(async () => (await queue.counts()).completed === 1);
    expect(calls).toHaveLength(1);
    expect(calls[0].job).toEqual({ id, name: "send", data: { n: 1 }, attemptsMade: 0 });
    expect(await queue.counts()).toEqual({
      waiting: 0,
      active: 0,
      delayed: 0,
      completed: 1,
      failed: 0,
    });
  });

  it("counts jobs waiting for a processor", async () => {
    await queue.add("send", { n: 1 });
    await queue.add("send", { n: 2 });
    expect(await queue.counts()).toMatchObject({ waiting: 2, active: 0, completed: 0 });
  });

  it("adds a job id only once, also after the job completed", async () => {
    expect(await queue.add("send", { n: 1 }, { jobId: "order-1" })).toEqual({ id: "order-1" });
    expect(await queue.add("send", { n: 2 }, { jobId: "order-1" })).toEqual({ id: "order-1" });
    expect((await queue.counts()).waiting).toBe(1);

    const { calls, handler } = recorder();
    queue.process(handler);
    await waitFor(async () => (await queue.counts()).completed === 1);

    expect(await queue.add("send", { n: 3 }, { jobId: "order-1" })).toEqual({ id: "order-1" });
    // Jobs run in order with concurrency 1: once the sentinel ran, a duplicate would have too.
    await queue.add("send", { n: 4 }, { jobId: "sentinel" });
    await waitFor(() => calls.some((c) => c.job.id === "sentinel"));
    expect(calls.map((c) => c.job.data.n)).toEqual([1, 4]);
  });

  it("rejects job ids BullMQ cannot store", async () => {
    await expect(queue.add("send", { n: 1 }, { jobId: "42" })).rejects.toThrow(/integer/);
    await expect(queue.add("send", { n: 1 }, { jobId: "a:b" })).rejects.toThrow(/:/);
  });

  it("retries a failing job with exponentially growing delays", async () => {
    const { calls, handler } = recorder(async (job) => {
      if (job.attemptsMade < 2) throw new Error(`attempt ${job.attemptsMade} failed`);
    });
    queue.process(handler);
    const backoffMs = 150;
    await queue.add("send", { n: 1 }, { attempts: 5, backoffMs });

    await waitFor(async () => (await queue.counts()).completed === 1);
    expect(calls.map((c) => c.job.attemptsMade)).toEqual([0, 1, 2]);
    // Only lower bounds: a timer never fires early (give or take a clock tick), but a busy
    // machine may fire it late, so comparing the two gaps with each other would be flaky.
    // A base delay well above scheduler noise keeps a non-doubling queue from passing.
    const firstGap = calls[1].at - calls[0].at;
    const secondGap = calls[2].at - calls[1].at;
    expect(firstGap).toBeGreaterThanOrEqual(backoffMs - 5);
    expect(secondGap).toBeGreaterThanOrEqual(2 * backoffMs - 5);
    expect((await queue.counts()).failed).toBe(0);
  });

  it("keeps a job that used up its attempts as failed, with its reason", async () => {
    const { calls, handler } = recorder(async () => {
      throw new Error("smtp down");
    });
    queue.process(handler);
    const { id } = await queue.add("send", { n: 7 }, { attempts: 3, backoffMs: 10 });

    await waitFor(async () => (await queue.counts()).failed === 1);
    expect(calls).toHaveLength(3);
    const [dead, ...others] = await queue.failed();
    expect(others).toEqual([]);
    expect(dead).toMatchObject({
      id,
      name: "send",
      data: { n: 7 },
      attemptsMade: 3,
      failedReason: "smtp down",
    });
    expect(dead.finishedOn).toEqual(expect.any(Number));
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 1 });
  });

  it("retryFailed reprocesses dead jobs with fresh attempts", async () => {
    let healthy = false;
    const { calls, handler } = recorder(async () => {
      if (!healthy) throw new Error("provider down");
    });
    queue.process(handler);
    await queue.add("send", { n: 1 }, { jobId: "job-a", attempts: 2, backoffMs: 10 });
    await queue.add("send", { n: 2 }, { jobId: "job-b", attempts: 2, backoffMs: 10 });
    await waitFor(async () => (await queue.counts()).failed === 2);
    expect((await queue.failed()).map((j) => j.id)).toEqual(["job-b", "job-a"]); // newest first
    expect((await queue.failed(1)).map((j) => j.id)).toEqual(["job-b"]);

    healthy = true;
    expect(await queue.retryFailed("no-such-job")).toBe(0);
    expect(await queue.retryFailed("job-a")).toBe(1);
    await waitFor(async () => (await queue.counts()).completed === 1);
    expect((await queue.failed()).map((j) => j.id)).toEqual(["job-b"]);

    expect(await queue.retryFailed()).toBe(1);
    await waitFor(async () => (await queue.counts()).completed === 2);
    expect((await queue.counts()).failed).toBe(0);
    expect(await queue.failed()).toEqual([]);
    // Each retried job starts again from attempt 0.
    const retried = calls.filter((c) => c.job.attemptsMade === 0).map((c) => c.job.id);
    expect(retried.sort()).toEqual(["job-a", "job-a", "job-b", "job-b"]);
  });

  it("holds a delayed job back for delayMs", async () => {
    const { calls, handler } = recorder();
    queue.process(handler);
    const addedAt = Date.now();
    await queue.add("send", { n: 1 }, { delayMs: 200 });
    expect((await queue.counts()).delayed).toBe(1);

    await waitFor(() => calls.length === 1);
    expect(calls[0].at - addedAt).toBeGreaterThanOrEqual(195);
  });

  it("runs no more jobs at once than its concurrency", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const { calls, handler } = recorder(async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep(40);
      inFlight--;
    });
    for (let n = 0; n < 6; n++) await queue.add("send", { n });
    queue.process(handler, { concurrency: 2 });

    await waitFor(async () => (await queue.counts()).completed === 6);
    expect(calls).toHaveLength(6);
    expect(maxInFlight).toBe(2);
  });

  it("refuses a second processor", () => {
    queue.process(async () => undefined);
    expect(() => queue.process(async () => undefined)).toThrow(/processor/);
  });

  it("stopProcessing lets the job in hand finish, keeps new jobs, and a new processor takes them", async () => {
    let finished = false;
    const first = recorder(async () => {
      await sleep(150);
      finished = true;
    });
    queue.process(first.handler);
    await queue.add("send", { n: 1 });
    await waitFor(() => first.calls.length === 1);

    await queue.stopProcessing();
    expect(finished).toBe(true);
    await queue.add("send", { n: 2 });
    await sleep(100);
    expect(first.calls).toHaveLength(1);

    // A reloaded service registers its processor again.
    const second = recorder();
    queue.process(second.handler);
    await waitFor(() => second.calls.length === 1);
    expect(second.calls[0].job.data).toEqual({ n: 2 });
  });

  it("close waits for the job in hand to finish", async () => {
    let finished = false;
    const { calls, handler } = recorder(async () => {
      await sleep(200);
      finished = true;
    });
    queue.process(handler);
    await queue.add("send", { n: 1 });
    await waitFor(() => calls.length === 1);

    await queue.close();
    expect(finished).toBe(true);
  });
});

/** Removes the suite's BullMQ queues, then checks nothing else was left under its prefix. */
async function obliterate(url: string, prefix: string, names: string[]): Promise<void> {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  try {
    for (const name of names) {
      const queue = new Queue(name, { connection, prefix });
      await queue.obliterate({ force: true });
      await queue.close();
    }
    const left = await connection.keys(`${prefix}*`);
    if (left.length) await connection.del(...left);
  } finally {
    await connection.quit();
  }
}

describe("BullMqQueueFactory without a reachable server", () => {
  let factory: BullMqQueueFactory;
  let warn: jest.SpyInstance;

  beforeAll(() => {
    warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
    // Port 1 refuses connections at once: this needs no server and runs everywhere.
    factory = new BullMqQueueFactory("redis://127.0.0.1:1", freshRedisPrefix());
  });

  afterAll(async () => {
    await factory.close();
    warn.mockRestore();
  });

  it("ping resolves false within about two seconds", async () => {
    const started = Date.now();
    expect(await factory.ping()).toBe(false);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it("add fails instead of hanging, and close still returns", async () => {
    const queue = factory.queue(uniqueName("q"));
    queue.process(async () => undefined);
    await expect(queue.add("send", { n: 1 })).rejects.toThrow(/not reachable/);
    await factory.close();
  });
});
