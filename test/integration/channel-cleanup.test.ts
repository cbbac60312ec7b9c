import Redis from "ioredis";
import { connect } from "nats";
import { deleteChannels } from "../../lib/infra/channels/cleanup";
import { realServersFor, servers, uniqueName } from "../helpers/servers";

/**
 * deleteChannels removes what a throwaway cluster (a test suite, a split
 * bench run) left on the channel server under its own prefix, and nothing
 * under any other prefix.
 */
describe.each(realServersFor("redis", "nats"))("deleteChannels on %s", (server) => {
  const mine = uniqueName("mine");
  const theirs = uniqueName("theirs");

  afterAll(async () => {
    await deleteChannels(servers[server]!, theirs);
  });

  it("deletes the channels under its prefix and leaves the others", async () => {
    const url = servers[server]!;
    if (server === "redis") {
      const client = new Redis(url);
      try {
        for (const prefix of [mine, theirs]) {
          await client.xadd(`${prefix}.orders.events`, "*", "payload", "{}");
          await client.xgroup("CREATE", `${prefix}.orders.events`, "orders", "0");
        }
        expect(await deleteChannels(url, mine)).toBe(true);
        expect(await client.exists(`${mine}.orders.events`)).toBe(0);
        expect(await client.exists(`${theirs}.orders.events`)).toBe(1);
      } finally {
        client.disconnect();
      }
    } else {
      const nc = await connect({ servers: new URL(url).host });
      try {
        const jsm = await nc.jetstreamManager();
        for (const prefix of [mine, theirs])
          await jsm.streams.add({
            name: `${prefix}_orders_events`,
            subjects: [`${prefix}.orders.events`],
          });
        expect(await deleteChannels(url, mine)).toBe(true);
        const names: string[] = [];
        for await (const stream of jsm.streams.list()) names.push(stream.config.name);
        expect(names).not.toContain(`${mine}_orders_events`);
        expect(names).toContain(`${theirs}_orders_events`);
      } finally {
        await nc.close();
      }
    }
  });
});

describe("deleteChannels on another kind of server", () => {
  it("leaves Kafka alone and says so", async () => {
    expect(await deleteChannels("kafka://127.0.0.1:9092", "bench")).toBe(false);
  });
});
