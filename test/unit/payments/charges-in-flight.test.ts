import { ChargesInFlight } from "../../../services/payments/charges-in-flight";

/** A promise settled from outside, to hold a charge "at the provider". */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("charges in flight", () => {
  it("lets a webhook go at once when no charge of its order is in flight", async () => {
    const inFlight = new ChargesInFlight();
    const started = Date.now();
    await inFlight.settled("order-1", 5_000);
    expect(Date.now() - started).toBeLessThan(100);
  });

  it("holds a webhook until the charge of its order is recorded, and only that order's", async () => {
    const inFlight = new ChargesInFlight();
    const answer = deferred<string>();
    const charged = inFlight.track("order-1", () => answer.promise);

    let released = false;
    const webhook = inFlight.settled("order-1", 5_000).then((answered) => {
      released = true;
      return answered;
    });
    await inFlight.settled("order-2", 5_000); // another order's webhook is not held
    await tick();
    expect(released).toBe(false);

    answer.resolve("recorded");
    await expect(charged).resolves.toBe("recorded");
    // The webhook gets what the recording answered: the payment as it committed it.
    await expect(webhook).resolves.toBe("recorded");
    expect(inFlight.size).toBe(0);
  });

  it("releases the webhook when the charge fails, and hands the failure to the charge's caller", async () => {
    const inFlight = new ChargesInFlight();
    const answer = deferred();
    const charged = inFlight.track("order-1", () => answer.promise);
    const webhook = inFlight.settled("order-1", 5_000);
    answer.reject(new Error("database down"));
    await expect(charged).rejects.toThrow("database down");
    await expect(webhook).resolves.toBeUndefined();
    expect(inFlight.size).toBe(0);
  });

  it("waits no longer than it is told", async () => {
    const inFlight = new ChargesInFlight();
    const answer = deferred();
    const charged = inFlight.track("order-1", () => answer.promise);
    const started = Date.now();
    await expect(inFlight.settled("order-1", 50)).resolves.toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(inFlight.size).toBe(1);
    answer.resolve();
    await charged;
  });

  it("keeps a newer charge of the order when an older one finishes", async () => {
    const inFlight = new ChargesInFlight();
    const older = deferred();
    const newer = deferred();
    const first = inFlight.track("order-1", () => older.promise);
    const second = inFlight.track("order-1", () => newer.promise);
    older.resolve();
    await first;
    let released = false;
    const webhook = inFlight.settled("order-1", 5_000).then(() => (released = true));
    await tick();
    expect(released).toBe(false);
    newer.resolve();
    await second;
    await webhook;
    expect(inFlight.size).toBe(0);
  });
});
