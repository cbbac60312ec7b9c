import { BoundedMap } from "../../lib/bounded-map";

describe("a bounded map", () => {
  it("keeps the newest entries, forgetting the oldest first", () => {
    const map = new BoundedMap<string, number>(2);
    map.set("a", 1).set("b", 2).set("c", 3);
    expect([...map]).toEqual([
      ["b", 2],
      ["c", 3],
    ]);
  });

  it("makes a key set again the newest", () => {
    const map = new BoundedMap<string, number>(2);
    map.set("a", 1).set("b", 2).set("a", 10).set("c", 3);
    expect([...map]).toEqual([
      ["a", 10],
      ["c", 3],
    ]);
  });

  it("gives a taken value once", () => {
    const map = new BoundedMap<string, number>(2);
    map.set("a", 1);
    expect(map.take("a")).toBe(1);
    expect(map.take("a")).toBeUndefined();
    expect(map.size).toBe(0);
  });

  it("refuses a capacity below one", () => {
    expect(() => new BoundedMap(0)).toThrow(/at least 1/);
  });
});
