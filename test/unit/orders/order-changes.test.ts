import type { OrderStatus } from "../../../lib/contracts/orders";
import { OrderChanges } from "../../../services/orders/order-changes";

/** A pretend order whose status the test changes, counting its reads. */
function order(status: OrderStatus) {
  const state = { status, reads: 0 };
  return { state, read: async () => (state.reads++, { status: state.status }) };
}

const pending = (s: OrderStatus) => s === "PENDING" || s === "AWAITING_PAYMENT";

describe("OrderChanges", () => {
  it("answers as soon as a committed change is signalled, long before the wait is over", async () => {
    const changes = new OrderChanges(10, 60_000);
    const { state, read } = order("PENDING");
    const started = Date.now();
    const waiting = changes.waitWhile("o1", 5_000, read, pending);
    setTimeout(() => {
      state.status = "CONFIRMED";
      changes.changed("o1", "CONFIRMED");
    }, 50);
    expect(await waiting).toEqual({ status: "CONFIRMED" });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(changes.waiting).toBe(0);
  });

  it("keeps waiting, without reading, on a change to another awaited status", async () => {
    const changes = new OrderChanges(10, 60_000);
    const { state, read } = order("PENDING");
    const waiting = changes.waitWhile("o1", 5_000, read, pending);
    setTimeout(() => {
      state.status = "AWAITING_PAYMENT";
      changes.changed("o1", "AWAITING_PAYMENT");
    }, 20);
    setTimeout(() => {
      state.status = "CANCELLED";
      changes.changed("o1", "CANCELLED");
    }, 80);
    expect(await waiting).toEqual({ status: "CANCELLED" });
    expect(state.reads).toBe(2);
  });

  it("re-reads every recheckMs, so a change made on another node is seen too", async () => {
    const changes = new OrderChanges(10, 30);
    const { state, read } = order("PENDING");
    setTimeout(() => (state.status = "CANCELLED"), 100);
    const result = await changes.waitWhile("o2", 5_000, read, pending);
    expect(result.status).toBe("CANCELLED");
    expect(state.reads).toBeGreaterThan(2);
  });

  it("answers the order as it is once the wait is over", async () => {
    const changes = new OrderChanges(10, 40);
    const { read } = order("PENDING");
    const started = Date.now();
    const result = await changes.waitWhile("o3", 200, read, pending);
    expect(result.status).toBe("PENDING");
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(changes.waiting).toBe(0);
  });

  it("with a peek at the status, reads an awaited order whole only once it changed", async () => {
    const changes = new OrderChanges(10, 60_000);
    const { state, read } = order("PENDING");
    const peek = async () => state.status;
    const waiting = changes.waitWhile("o4", 5_000, read, pending, peek);
    setTimeout(() => {
      state.status = "CONFIRMED";
      changes.changed("o4", "CONFIRMED");
    }, 30);
    expect(await waiting).toEqual({ status: "CONFIRMED" });
    expect(state.reads).toBe(1);
  });

  it("reads at once when the peek finds no order or a status not awaited, and at the end of the wait", async () => {
    const changes = new OrderChanges(10, 60_000);
    const done = order("CONFIRMED");
    expect(
      await changes.waitWhile("o5", 5_000, done.read, pending, async () => "CONFIRMED"),
    ).toEqual({ status: "CONFIRMED" });
    let missingReads = 0;
    const notFound = async (): Promise<{ status: OrderStatus }> => {
      missingReads++;
      throw new Error("Order not found");
    };
    await expect(
      changes.waitWhile("o6", 5_000, notFound, pending, async () => undefined),
    ).rejects.toThrow("Order not found");
    expect([done.state.reads, missingReads]).toEqual([1, 1]);

    const stuck = order("PENDING");
    const result = await changes.waitWhile("o7", 100, stuck.read, pending, async () => "PENDING");
    expect(result).toEqual({ status: "PENDING" });
    expect(stuck.state.reads).toBe(1);
    expect(changes.waiting).toBe(0);
  });

  it("ends the wait with its last timer, even when Date.now() is a millisecond short of it", async () => {
    const changes = new OrderChanges(10, 60_000);
    const stuck = order("PENDING");
    // Timers keep their own millisecond clock: the wall clock can read 99 ms when a 100 ms timer fires.
    const realNow = Date.now.bind(Date);
    let started: number | undefined;
    let laterCalls = 0;
    const now = jest.spyOn(Date, "now").mockImplementation(() => {
      const t = realNow();
      if (started === undefined) return (started = t);
      return ++laterCalls <= 5 ? Math.min(t, started + 99) : t;
    });
    try {
      const result = await changes.waitWhile("o8", 100, stuck.read, pending, async () => "PENDING");
      expect(result).toEqual({ status: "PENDING" });
      expect(stuck.state.reads).toBe(1);
    } finally {
      now.mockRestore();
    }
  });

  it("does not wait past its cap of waiters, nor once closed", async () => {
    const changes = new OrderChanges(1, 60_000);
    const first = order("PENDING");
    const held = changes.waitWhile("a", 5_000, first.read, pending);
    await new Promise((r) => setImmediate(r));
    expect(changes.waiting).toBe(1);
    const t0 = Date.now();
    const second = order("PENDING");
    await changes.waitWhile("b", 5_000, second.read, pending);
    expect(Date.now() - t0).toBeLessThan(100);

    changes.close();
    expect(await held).toEqual({ status: "PENDING" });
    const t1 = Date.now();
    await changes.waitWhile("c", 5_000, second.read, pending);
    expect(Date.now() - t1).toBeLessThan(100);
  });
});
