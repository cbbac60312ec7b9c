import { format } from "node:util";
import type { ServiceBroker } from "moleculer";
import { durableChannel } from "../../lib/messaging/channel";
import { createEnvelope, headersFor, MessageEnvelope } from "../../lib/messaging/envelope";
import { Topics } from "../../lib/messaging/topics";
import {
  ChannelsAdapterName,
  channelsEnv,
  cleanUpChannels,
  startBroker,
} from "../helpers/channels";
import { adaptersFor, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * A node logging at debug level (what an operator turns on to chase a fault)
 * writes no message body: order and user events carry names, addresses and
 * emails. The library's Redis adapter prints every published body at debug
 * unless the node's channels port says otherwise.
 */
describe.each(adaptersFor("redis", "nats"))("channel logs at debug level on %s", (adapter) => {
  const prefix = uniqueName("chanlog");
  const lines: string[] = [];
  const received: MessageEnvelope[] = [];
  const consoleMethods = ["log", "info", "warn", "error", "debug"] as const;
  let broker: ServiceBroker;

  beforeAll(async () => {
    for (const method of consoleMethods)
      jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        lines.push(format(...args));
      });
    broker = await startBroker(
      { ...channelsEnv(adapter as ChannelsAdapterName, prefix), LOG_LEVEL: "debug" },
      [
        {
          name: "mailer",
          channels: {
            [Topics.OrdersEvents]: durableChannel(Topics.OrdersEvents, {
              group: "mailer",
              handler(envelope) {
                this.logger.debug(`mailer got ${envelope.id}`);
                received.push(envelope);
              },
            }),
          },
        },
      ],
    );
  });

  afterAll(async () => {
    await broker?.stop();
    await cleanUpChannels(adapter as ChannelsAdapterName, prefix);
    jest.restoreAllMocks();
  });

  it("names a published message by id and never prints its body", async () => {
    const email = `ann.${uniqueName("private")}@example.com`;
    const envelope = createEnvelope({
      type: "OrderConfirmed",
      aggregateId: "order-1",
      payload: { email, shippingAddress: { line1: "1 Private Lane", city: "Lyon" } },
    });
    const headers = headersFor(envelope, { source: "test", correlationId: "corr-logs" });
    const before = lines.length;

    await broker.sendToChannel(Topics.OrdersEvents, envelope, { headers: { ...headers } });
    await waitFor(() => received.find((m) => m.id === envelope.id));

    const written = lines.slice(before);
    // Debug lines of this message were captured (so the check below means something).
    expect(written).toContainEqual(expect.stringMatching(`DEBUG .*mailer got ${envelope.id}`));
    expect(written.filter((line) => line.includes(email) || line.includes("Private Lane"))).toEqual(
      [],
    );
    if (adapter === "redis")
      expect(written).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `Publish a message to '[^']*${Topics.OrdersEvents}' channel\\.\\.\\. message ${envelope.id}`,
          ),
        ),
      );
  });
});
