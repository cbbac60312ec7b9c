import { PeriodicTask } from "../../lib/concurrency/periodic-task";
import { sleep, waitFor } from "../helpers/wait";

describe("PeriodicTask", () => {
  it("runs every interval without overlapping itself, and stop() waits for the run in progress", async () => {
    let running = 0;
    let overlapped = false;
    let runs = 0;
    let finished = 0;
    const task = new PeriodicTask(
      async () => {
        running++;
        if (running > 1) overlapped = true;
        runs++;
        await sleep(40); // longer than the interval
        running--;
        finished++;
      },
      10,
      () => undefined,
    );
    task.start();
    await waitFor(() => runs >= 2);
    await task.stop();
    expect(overlapped).toBe(false);
    expect(finished).toBe(runs);
    const after = runs;
    await sleep(50);
    expect(runs).toBe(after);
  });

  it("tells a long run that the node is stopping, and reports failures without stopping", async () => {
    const errors: unknown[] = [];
    let sawStop = false;
    let calls = 0;
    const task = new PeriodicTask(
      async (shouldStop) => {
        calls++;
        if (calls === 1) throw new Error("database away");
        while (!shouldStop()) await sleep(5);
        sawStop = true;
      },
      10,
      (err) => errors.push(err),
    );
    task.start();
    await waitFor(() => calls >= 2);
    await task.stop();
    expect(sawStop).toBe(true);
    expect(errors).toHaveLength(1);
  });

  it("does nothing with an interval of 0", async () => {
    let calls = 0;
    const task = new PeriodicTask(
      async () => void calls++,
      0,
      () => undefined,
    );
    task.start();
    await sleep(30);
    await task.stop();
    expect(calls).toBe(0);
  });
});
