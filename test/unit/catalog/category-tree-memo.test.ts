import { CategoryTreeMemo } from "../../../services/catalog/category-tree-memo";
import { CategoryTree } from "../../../services/catalog/domain/category-tree";

describe("CategoryTreeMemo", () => {
  function setUp() {
    let loads = 0;
    let now = 0;
    const memo = new CategoryTreeMemo(
      async () => {
        loads++;
        return new CategoryTree([]);
      },
      1_000,
      () => now,
    );
    return { memo, loads: () => loads, advance: (ms: number) => (now += ms) };
  }

  it("loads once for many reads, again after invalidate, and again when older than its max age", async () => {
    const { memo, loads, advance } = setUp();
    const [a, b] = await Promise.all([memo.get(), memo.get()]);
    expect(a).toBe(b);
    expect(loads()).toBe(1);

    memo.invalidate();
    await memo.get();
    expect(loads()).toBe(2);

    advance(999);
    await memo.get();
    expect(loads()).toBe(2);
    advance(1);
    await memo.get();
    expect(loads()).toBe(3);
  });

  it("does not keep a failed load", async () => {
    let fail = true;
    const memo = new CategoryTreeMemo(async () => {
      if (fail) throw new Error("database away");
      return new CategoryTree([]);
    });
    await expect(memo.get()).rejects.toThrow("database away");
    fail = false;
    await expect(memo.get()).resolves.toBeInstanceOf(CategoryTree);
  });
});
