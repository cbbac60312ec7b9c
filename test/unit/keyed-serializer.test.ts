import { KeyedSerializer } from "../../lib/concurrency/keyed-serializer";
import { sleep } from "../helpers/wait";

describe("KeyedSerializer", () => {
  it("runs tasks of one key one at a time, in arrival order, even when one fails", async () => {
    const serializer = new KeyedSerializer();
    const log: string[] = [];
    let running = 0;
    const task =
      (name: string, fail = false) =>
      async () => {
        running++;
        expect(running).toBe(1);
        log.push(`start ${name}`);
        await sleep(5);
        log.push(`end ${name}`);
        running--;
        if (fail) throw new Error(name);
        return name;
      };

    const results = await Promise.allSettled([
      serializer.run("cart-1", task("a")),
      serializer.run("cart-1", task("b", true)),
      serializer.run("cart-1", task("c")),
    ]);

    expect(log).toEqual(["start a", "end a", "start b", "end b", "start c", "end c"]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    await sleep(0);
    expect(serializer.size).toBe(0);
  });

  it("lets different keys run side by side", async () => {
    const serializer = new KeyedSerializer();
    let concurrent = 0;
    let peak = 0;
    const task = async () => {
      peak = Math.max(peak, ++concurrent);
      await sleep(10);
      concurrent--;
    };
    await Promise.all(["a", "b", "c"].map((key) => serializer.run(key, task)));
    expect(peak).toBe(3);
  });
});
