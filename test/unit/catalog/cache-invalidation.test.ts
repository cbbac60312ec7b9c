import { Coalesced } from "../../../services/catalog/cache-invalidation";

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
