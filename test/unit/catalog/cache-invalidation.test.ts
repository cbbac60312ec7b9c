import { Coalesced, Throttled } from "../../../services/catalog/cache-invalidation";

describe("coalesced cache invalidation", () => {
  it("runs again for callers that arrive during a run, once for all of them", async () => {
    const starts: number[] = [];
    let release: () => void = () => undefined;
    const coalesced = new Coalesced(async () => {
      starts.push(starts.length);
      await new Promise<void>((resolve) => (release = resolve));
    });
    const first = coalesced.run();
    const during = [coalesced.run(), coalesced.run(), coalesced.run()];
    expect(starts).toHaveLength(1);
    release();
    await first;
    // The callers that came during the first run wait for a run that started after them.
    await new Promise((r) => setImmediate(r));
    expect(starts).toHaveLength(2);
    release();
    await Promise.all(during);
    expect(starts).toHaveLength(2);
  });

  it("passes a failure to the callers of that run and recovers", async () => {
    let fail = true;
    const coalesced = new Coalesced(async () => {
      if (fail) throw new Error("redis down");
    });
    await expect(coalesced.run()).rejects.toThrow("redis down");
    fail = false;
    await expect(coalesced.run()).resolves.toBeUndefined();
  });
});

describe("throttled cache invalidation (stock levels)", () => {
  let now = 0;
  let runs: number[];
  let throttled: Throttled<string>;
  /** The items each run was handed. */
  let handed: string[][];
  const errors: unknown[] = [];

  beforeEach(() => {
    jest.useFakeTimers();
    now = 10_000;
    runs = [];
    handed = [];
    errors.length = 0;
    throttled = new Throttled<string>(
      async (items) => {
        runs.push(now);
        handed.push(items);
      },
      1000,
      (err) => errors.push(err),
      () => now,
    );
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  /** Moves both clocks: the throttle's own and the timers'. */
  async function advance(ms: number) {
    now += ms;
    await jest.advanceTimersByTimeAsync(ms);
  }

  it("runs the first request of a quiet second at once", () => {
    throttled.request("p");
    expect(runs).toEqual([10_000]);
  });

  it("serves a burst with one more run at the end of the interval, not one each", async () => {
    throttled.request("p");
    for (let i = 0; i < 100; i++) {
      await advance(5);
      throttled.request("p");
    }
    expect(runs).toEqual([10_000]);
    await advance(500);
    expect(runs).toEqual([10_000, 11_000]);
    // Nothing asked since that run: nothing more runs.
    await advance(5000);
    expect(runs).toEqual([10_000, 11_000]);
  });

  it("hands each run the items asked for since the last one, each once", async () => {
    throttled.request("a");
    for (const item of ["b", "c", "b", "a"]) {
      await advance(100);
      throttled.request(item);
    }
    await advance(1000);
    throttled.request("d");
    await throttled.flush();
    expect(handed).toEqual([["a"], ["b", "c", "a"], ["d"]]);
  });

  it("never leaves a request unserved for longer than the interval", async () => {
    throttled.request("p");
    await advance(999);
    throttled.request("p");
    await advance(1);
    expect(runs).toEqual([10_000, 11_000]);
  });

  it("runs a due request at once when flushed, and nothing when none is due", async () => {
    await throttled.flush();
    expect(runs).toEqual([]);
    throttled.request("p");
    throttled.request("p");
    await throttled.flush();
    expect(runs).toEqual([10_000, 10_000]);
    await advance(2000);
    expect(runs).toHaveLength(2);
  });

  it("reports a failed run and keeps serving requests", async () => {
    const failing = new Throttled<string>(
      async () => {
        throw new Error("redis down");
      },
      1000,
      (err) => errors.push(err),
      () => now,
    );
    failing.request("p");
    await Promise.resolve();
    expect(errors).toHaveLength(1);
    await advance(1000);
    failing.request("p");
    await Promise.resolve();
    expect(errors).toHaveLength(2);
  });
});
