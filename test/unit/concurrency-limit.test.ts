import { ConcurrencyLimit } from "../../lib/concurrency/concurrency-limit";

/** A task that runs until released, recording how many ran at once. */
function gatedTasks() {
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const gates: (() => void)[] = [];
  const task = (n: number) => async () => {
    running++;
    peak = Math.max(peak, running);
    order.push(n);
    await new Promise<void>((release) => gates.push(release));
    running--;
    return n;
  };
  return { task, gates, order, peak: () => peak, running: () => running };
}

const settle = () => new Promise((r) => setImmediate(r));

describe("ConcurrencyLimit", () => {
  it("runs at most max tasks at once, the rest in arrival order", async () => {
    const limit = new ConcurrencyLimit(2);
    const { task, gates, order, peak } = gatedTasks();
    const results = [1, 2, 3, 4, 5].map((n) => limit.run(task(n)));
    await settle();
    expect(order).toEqual([1, 2]);
    expect(limit.queued).toBe(3);

    gates.shift()!();
    await settle();
    expect(order).toEqual([1, 2, 3]);

    while (gates.length) {
      gates.shift()!();
      await settle();
    }
    expect(await Promise.all(results)).toEqual([1, 2, 3, 4, 5]);
    expect(order).toEqual([1, 2, 3, 4, 5]);
    expect(peak()).toBe(2);
    expect(limit.queued).toBe(0);
  });

  it("frees the slot of a task that fails", async () => {
    const limit = new ConcurrencyLimit(1);
    await expect(limit.run(() => Promise.reject(new Error("broken")))).rejects.toThrow("broken");
    await expect(limit.run(async () => "next")).resolves.toBe("next");
  });

  it("refuses a limit below one", () => {
    expect(() => new ConcurrencyLimit(0)).toThrow(RangeError);
  });
});
