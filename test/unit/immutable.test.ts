import { ServiceBroker } from "moleculer";
import { loadConfig } from "../../lib/config";
import { cacherOptions } from "../../lib/infra/cache";
import { encodeJson, immutableCopy, isImmutable } from "../../lib/immutable";

/**
 * Cached results are shared, not copied: frozen all through, so a caller
 * that writes to one fails loudly instead of changing what the next caller
 * reads, and their JSON is encoded once.
 */
describe("immutableCopy and encodeJson", () => {
  const page = () => ({
    items: [{ id: "p1", price: { amount: 1999, currency: "EUR" }, tags: ["a"] }],
    total: 1,
    next: null,
  });

  it("freezes a deep copy of plain data, leaving the original as it was", () => {
    const original = page();
    const frozen = immutableCopy(original);
    expect(frozen).toEqual(original);
    expect(frozen).not.toBe(original);
    expect(isImmutable(frozen)).toBe(true);
    expect(() => {
      frozen.items[0].price.amount = 1;
    }).toThrow(TypeError);
    expect(() => frozen.items[0].tags.push("b")).toThrow(TypeError);
    expect(() => {
      (frozen as Record<string, unknown>).extra = 1;
    }).toThrow(TypeError);
    original.items[0].price.amount = 5;
    expect(frozen.items[0].price.amount).toBe(1999);
    // Already immutable: shared as it is.
    expect(immutableCopy(frozen)).toBe(frozen);
  });

  it("keeps copying a value that holds something freezing cannot protect", () => {
    const withDate = { at: new Date("2026-01-01T00:00:00Z"), n: 1 };
    const first = immutableCopy(withDate);
    expect(isImmutable(first)).toBe(false);
    first.at.setFullYear(2000);
    const second = immutableCopy(withDate);
    expect(second).not.toBe(first);
    expect(second.at.toISOString()).toBe("2026-01-01T00:00:00.000Z");
    expect(isImmutable(immutableCopy(new Map([["a", 1]])))).toBe(false);
    for (const v of [0, "s", true, null, undefined]) expect(immutableCopy(v)).toBe(v);
  });

  it("encodes an immutable value once, and any other value every time", () => {
    const frozen = immutableCopy(page());
    expect(encodeJson(frozen)).toBe(JSON.stringify(page()));
    const spy = jest.spyOn(JSON, "stringify");
    encodeJson(frozen);
    expect(spy).not.toHaveBeenCalled();

    const mutable = page();
    expect(encodeJson(mutable)).toBe(JSON.stringify(page()));
    mutable.total = 2;
    expect(JSON.parse(encodeJson(mutable))).toMatchObject({ total: 2 });
    // Frozen by someone else (perhaps only on the surface): encoded every time.
    const shallow = Object.freeze({ inner: { n: 1 } });
    encodeJson(shallow);
    shallow.inner.n = 2;
    expect(JSON.parse(encodeJson(shallow))).toEqual({ inner: { n: 2 } });
    spy.mockRestore();
  });

  it("makes the embedded cacher hand every caller the same frozen result", async () => {
    const broker = new ServiceBroker({
      logger: false,
      cacher: cacherOptions(loadConfig({})),
    });
    let calls = 0;
    broker.createService({
      name: "shop",
      actions: {
        page: {
          cache: { keys: ["n"] },
          handler: () => {
            calls++;
            return page();
          },
        },
      },
    });
    await broker.start();
    try {
      const first = await broker.call<ReturnType<typeof page>, object>("shop.page", { n: 1 });
      // The first caller gets the action's own result; later callers share the entry.
      first.total = 99;
      const second = await broker.call<ReturnType<typeof page>, object>("shop.page", { n: 1 });
      const third = await broker.call<ReturnType<typeof page>, object>("shop.page", { n: 1 });
      expect(calls).toBe(1);
      expect(second).toBe(third);
      expect(second.total).toBe(1);
      expect(() => {
        second.items[0].price.amount = 0;
      }).toThrow(TypeError);
    } finally {
      await broker.stop();
    }
  });
});
