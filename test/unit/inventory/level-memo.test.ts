import type { StockLevel } from "../../../lib/contracts/catalog";
import { LevelMemo } from "../../../services/inventory/level-memo";
import { sleep } from "../../helpers/wait";

/**
 * Recent stock levels for the cart's reads: served while young enough for
 * the reader, forgotten when a change commits, never kept from a read that a
 * change overtook, and one query for a burst of misses of a product.
 */
function level(productId: string, available: number): StockLevel {
  return { productId, onHand: available, reserved: 0, available, version: available };
}

/** A database stand-in whose reads the test answers by hand (plain data, no server). */
class Shelf {
  stock = new Map<string, number>();
  loads: string[][] = [];
  private held: (() => void)[] = [];
  holding = false;

  load = async (ids: string[]): Promise<StockLevel[]> => {
    this.loads.push(ids);
    // What the shelf holds when the query runs, not when its answer arrives.
    const answer = ids.map((id) => level(id, this.stock.get(id) ?? 0));
    if (this.holding) await new Promise<void>((resolve) => this.held.push(resolve));
    return answer;
  };

  release(): void {
    this.holding = false;
    for (const resolve of this.held.splice(0)) resolve();
  }
}

/** Lets the memo's background reads (queued with no delay) start and finish. */
async function backgroundReads(): Promise<void> {
  await sleep(0);
  await new Promise((resolve) => setImmediate(resolve));
}

describe("LevelMemo", () => {
  let clock: number;
  let memo: LevelMemo;
  let shelf: Shelf;

  beforeEach(() => {
    clock = 1_000_000;
    memo = new LevelMemo(3, () => clock, 0);
    shelf = new Shelf();
    shelf.stock.set("a", 5).set("b", 7);
  });

  it("answers a level young enough for the reader without a query, an older one with a query", async () => {
    expect(await memo.levels(["a", "b"], 1000, shelf.load)).toEqual([level("a", 5), level("b", 7)]);
    shelf.stock.set("a", 1); // changed elsewhere (another node): nothing here forgets it

    clock += 400;
    expect(await memo.levels(["a"], 1000, shelf.load)).toEqual([level("a", 5)]);
    expect(shelf.loads).toEqual([["a", "b"]]);

    clock += 601;
    expect(await memo.levels(["a"], 1000, shelf.load)).toEqual([level("a", 1)]);
    // A reader that accepts less age reads again even a fresh entry's product.
    expect(await memo.levels(["b"], 0, shelf.load)).toEqual([level("b", 7)]);
    expect(shelf.loads).toEqual([["a", "b"], ["a"], ["b"]]);
  });

  it("reads again in the background a level past half its age, answering with it meanwhile", async () => {
    await memo.levels(["a", "b"], 1000, shelf.load);
    shelf.stock.set("a", 2); // changed on another node
    clock += 400;
    expect(await memo.levels(["a"], 1000, shelf.load)).toEqual([level("a", 5)]);
    expect(shelf.loads).toEqual([["a", "b"]]);

    clock += 200; // 600 ms old: answered as it is, and read again
    expect(await memo.levels(["a", "b"], 1000, shelf.load)).toEqual([level("a", 5), level("b", 7)]);
    await backgroundReads();
    expect(shelf.loads).toEqual([
      ["a", "b"],
      ["a", "b"],
    ]);

    clock += 450; // 1,050 ms after the first read, 450 after the refresh: no query, the new level
    expect(await memo.levels(["a"], 1000, shelf.load)).toEqual([level("a", 2)]);
    expect(shelf.loads).toHaveLength(2);
  });

  it("reads again the levels many readers found ageing in one query", async () => {
    memo = new LevelMemo(10, () => clock, 20);
    shelf.stock.set("c", 1).set("d", 2);
    await memo.levels(["a", "b"], 1000, shelf.load);
    await memo.levels(["c", "d"], 1000, shelf.load);
    clock += 600;
    // Carts of a line or two, each asking for what it holds, all past half their age.
    for (const ids of [["a"], ["b", "c"], ["a", "d"], ["c"]])
      expect(await memo.levels(ids, 1000, shelf.load)).toHaveLength(ids.length);
    expect(shelf.loads).toHaveLength(2);
    await sleep(40);
    expect(shelf.loads.slice(2)).toEqual([["a", "b", "c", "d"]]);
  });

  it("forgets a product whose change committed, and only that product", async () => {
    await memo.levels(["a", "b"], 1000, shelf.load);
    shelf.stock.set("a", 2);
    memo.forget("a");
    expect(await memo.levels(["a", "b"], 1000, shelf.load)).toEqual([level("a", 2), level("b", 7)]);
    expect(shelf.loads).toEqual([["a", "b"], ["a"]]);
  });

  it("keeps nothing from a read that a committed change overtook, and no later reader joins it", async () => {
    shelf.holding = true;
    const early = memo.levels(["a"], 1000, shelf.load); // reads 5, answer held back
    shelf.stock.set("a", 3);
    memo.forget("a"); // the change commits while the early read is under way
    shelf.holding = false;
    const late = memo.levels(["a"], 1000, shelf.load); // asked after the commit: its own query
    expect(await late).toEqual([level("a", 3)]);
    shelf.release();
    expect(await early).toEqual([level("a", 5)]);

    // The early answer was not kept: the memo still holds what the late read found.
    expect(await memo.levels(["a"], 1000, shelf.load)).toEqual([level("a", 3)]);
    expect(shelf.loads).toEqual([["a"], ["a"]]);
  });

  it("makes one query for a burst of misses of the same products", async () => {
    shelf.holding = true;
    const burst = Array.from({ length: 20 }, () => memo.levels(["a", "b"], 1000, shelf.load));
    const partly = memo.levels(["b", "c"], 1000, shelf.load);
    shelf.release();
    for (const answer of await Promise.all(burst))
      expect(answer).toEqual([level("a", 5), level("b", 7)]);
    expect(await partly).toEqual([level("b", 7), level("c", 0)]);
    expect(shelf.loads).toEqual([["a", "b"], ["c"]]);
  });

  it("hands out copies: a caller changing its answer changes nothing for the next", async () => {
    const [first] = await memo.levels(["a"], 1000, shelf.load);
    first.available = 999;
    expect(await memo.levels(["a"], 1000, shelf.load)).toEqual([level("a", 5)]);
  });

  it("keeps at most its size, dropping the entry refreshed longest ago", async () => {
    shelf.stock.set("c", 1).set("d", 2);
    await memo.levels(["a", "b", "c"], 1000, shelf.load);
    await memo.levels(["d"], 1000, shelf.load);
    expect(memo.size).toBe(3);
    await memo.levels(["b", "c", "d"], 1000, shelf.load);
    expect(shelf.loads).toEqual([["a", "b", "c"], ["d"]]);
    await memo.levels(["a"], 1000, shelf.load);
    expect(shelf.loads).toEqual([["a", "b", "c"], ["d"], ["a"]]);
  });

  it("passes a failed query to every reader waiting on it, and the next reader queries again", async () => {
    const failing = jest.fn().mockRejectedValueOnce(new Error("database down"));
    shelf.holding = false;
    const first = memo.levels(["a"], 1000, (ids) => failing(ids));
    const joined = memo.levels(["a"], 1000, shelf.load);
    await expect(first).rejects.toThrow("database down");
    await expect(joined).rejects.toThrow("database down");
    expect(await memo.levels(["a"], 1000, shelf.load)).toEqual([level("a", 5)]);
  });
});
