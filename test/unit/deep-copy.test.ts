import { deepCopy } from "../../lib/deep-copy";

describe("deepCopy (cache entries' and the cart writer's copies)", () => {
  it("copies plain data deeply: changing the copy leaves the cached value alone", () => {
    const cached = {
      items: [{ id: "p1", price: { amount: 1999, currency: "USD" }, tags: ["a", "b"] }],
      total: 1,
      at: new Date("2026-01-02T03:04:05Z"),
      none: null,
      flag: false,
    };
    const copy = deepCopy(cached);
    expect(copy).toEqual(cached);
    copy.items[0].price.amount = 1;
    copy.items[0].tags.push("c");
    copy.at.setFullYear(2000);
    expect(cached.items[0].price.amount).toBe(1999);
    expect(cached.items[0].tags).toEqual(["a", "b"]);
    expect(cached.at.toISOString()).toBe("2026-01-02T03:04:05.000Z");
  });

  it("copies Buffers, Maps and Sets, and keeps a class instance's prototype", () => {
    class Money {
      constructor(
        public amount: number,
        public currency: string,
      ) {}
      label() {
        return `${this.amount} ${this.currency}`;
      }
    }
    const cached = {
      bytes: Buffer.from("abc"),
      map: new Map([["k", { n: 1 }]]),
      set: new Set([1, 2]),
      money: new Money(5, "EUR"),
    };
    const copy = deepCopy(cached);
    copy.bytes[0] = 0;
    copy.map.get("k")!.n = 2;
    copy.set.add(3);
    expect(cached.bytes.toString()).toBe("abc");
    expect(cached.map.get("k")).toEqual({ n: 1 });
    expect([...cached.set]).toEqual([1, 2]);
    expect(copy.money).toBeInstanceOf(Money);
    expect(copy.money.label()).toBe("5 EUR");
    expect(copy.money).not.toBe(cached.money);
  });

  it("passes primitives through", () => {
    for (const v of [0, "s", true, null, undefined]) expect(deepCopy(v)).toBe(v);
  });
});
