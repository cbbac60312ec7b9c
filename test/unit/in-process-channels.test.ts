import type { ChannelSchema, ServiceBroker } from "moleculer";
import { startBroker } from "../helpers/channels";
import { uniqueName } from "../helpers/servers";
import { sleep } from "../helpers/wait";

/**
 * What the in-process adapter promises beyond the shared contract
 * (test/contract/channels.contract.test.ts): publish waits for delivery,
 * maxInFlight holds, and a stopping consumer neither loses nor cuts short
 * a message.
 */
describe("in-process channels adapter", () => {
  let broker: ServiceBroker | undefined;
  afterEach(async () => {
    await broker?.stop();
    broker = undefined;
  });

  const env = () => ({ CHANNELS_PREFIX: uniqueName("inproc"), CHANNELS_MAX_RETRIES: "2" });

  function slowConsumer(
    log: string[],
    opts: { group: string; name: string; ms?: number; maxInFlight?: number; active?: number[] },
  ) {
    let running = 0;
    const channel: ChannelSchema = {
      group: opts.group,
      maxInFlight: opts.maxInFlight,
      async handler(ctx: unknown) {
        running++;
        opts.active?.push(running);
        await sleep(opts.ms ?? 20);
        log.push(`${opts.name}:${(ctx as { params: { id: string } }).params.id}`);
        running--;
      },
    };
    return { name: opts.name, channels: { "orders.events": channel } };
  }

  it("resolves publish only after every group handled the message", async () => {
    const log: string[] = [];
    broker = await startBroker(env(), [
      slowConsumer(log, { group: "a", name: "a", ms: 30 }),
      slowConsumer(log, { group: "b", name: "b", ms: 60 }),
    ]);
    await broker.sendToChannel("orders.events", { id: "1" });
    expect(log.sort()).toEqual(["a:1", "b:1"]);
  });

  it("shares a group's messages between its members and respects maxInFlight", async () => {
    const log: string[] = [];
    const active: number[] = [];
    broker = await startBroker(env(), [
      slowConsumer(log, { group: "g", name: "m1", maxInFlight: 2, active }),
      slowConsumer(log, { group: "g", name: "m2", maxInFlight: 2, active }),
    ]);
    const ids = ["1", "2", "3", "4", "5", "6", "7", "8"];
    await Promise.all(ids.map((id) => broker!.sendToChannel("orders.events", { id })));
    expect(log).toHaveLength(8);
    expect(log.filter((l) => l.startsWith("m1:"))).toHaveLength(4);
    // Two slots per member: used, never exceeded.
    expect(Math.max(...active)).toBe(2);
  });

  it("lets a stopping consumer finish its message, then refuses to publish to its group", async () => {
    const log: string[] = [];
    broker = await startBroker(env(), [slowConsumer(log, { group: "g", name: "c", ms: 100 })]);
    const inFlight = broker.sendToChannel("orders.events", { id: "1" });
    await sleep(10);
    await broker.destroyService("c");
    expect(log).toEqual(["c:1"]);
    await inFlight;
    await expect(broker.sendToChannel("orders.events", { id: "2" })).rejects.toThrow(
      /No live consumer in group 'g'/,
    );
  });

  it("refuses to publish before the adapter is connected", async () => {
    const { buildBrokerOptions } = await import("../../lib/broker");
    const { loadConfig } = await import("../../lib/config");
    const { ServiceBroker: Broker } = await import("moleculer");
    const idle = new Broker(buildBrokerOptions(loadConfig({ LOG_LEVEL: "error" })));
    await expect(idle.sendToChannel("orders.events", {})).rejects.toThrow(/not connected/);
  });
});
