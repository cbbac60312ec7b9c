import type { ServiceBroker, ServiceSchema } from "moleculer";
import { DeadLetterHeaders, ReplayHeaders } from "../../lib/infra/channels/dead-letter-headers";
import { durableChannel, IncomingHeaders } from "../../lib/messaging/channel";
import { createEnvelope, headersFor, MessageEnvelope } from "../../lib/messaging/envelope";
import { dlqTopic, Topics } from "../../lib/messaging/topics";
import DeadLettersService from "../../services/ops/dead-letters.service";
import type { DeadLetter, DeadLetterSummary, Page } from "../../services/ops/dead-letter-store";
import {
  ChannelsAdapterName,
  channelsEnv,
  cleanUpChannels,
  startBroker,
} from "../helpers/channels";
import { adaptersFor, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * A poison message ends in the dead-letters store through `<topic>.dlq`, can
 * be listed and inspected, and a replay re-delivers it once the consumer is
 * fixed.
 */

const MAX_RETRIES = 3;

describe.each(adaptersFor("redis", "nats"))("dead letters on %s", (adapter) => {
  const prefix = uniqueName("dlq");
  let broker: ServiceBroker;
  let broken = true;
  const handled: { envelope: MessageEnvelope; headers: IncomingHeaders; meta: unknown }[] = [];

  const fragile: ServiceSchema = {
    name: "fragile",
    channels: {
      [Topics.OrdersEvents]: durableChannel(Topics.OrdersEvents, {
        group: "fragile",
        handler(envelope, ctx, headers) {
          if (broken) throw new Error("fragile is broken");
          handled.push({ envelope, headers, meta: { ...ctx.meta, requestID: ctx.requestID } });
        },
      }),
    },
  };

  const list = (params: object = {}) =>
    broker.call<Page<DeadLetterSummary>, object>("deadletters.list", params);

  function poison(aggregateId: string) {
    const envelope = createEnvelope({
      type: "OrderCreated",
      aggregateId,
      payload: { aggregateId },
    });
    const headers = headersFor(envelope, { source: "test", correlationId: `corr-${aggregateId}` });
    return { envelope, headers: { ...headers } as Record<string, string> };
  }

  beforeAll(async () => {
    broker = await startBroker(
      {
        ...channelsEnv(adapter as ChannelsAdapterName, prefix),
        CHANNELS_MAX_RETRIES: String(MAX_RETRIES),
        SQLITE_STORAGE: ":memory:",
      },
      [DeadLettersService, fragile],
    );
  });

  afterAll(async () => {
    await broker?.stop();
    await cleanUpChannels(adapter as ChannelsAdapterName, prefix);
  });

  it("stores a poison message, lists it once, and replays it to the fixed consumer", async () => {
    const first = poison("o-1");
    await broker.sendToChannel(Topics.OrdersEvents, first.envelope, { headers: first.headers });

    const page = await waitFor(async () => {
      const p = await list({ topic: Topics.OrdersEvents });
      return p.total === 1 ? p : undefined;
    });
    const [summary] = page.items;
    expect(page).toMatchObject({ page: 1, pageSize: 20, total: 1 });
    expect(summary).toMatchObject({
      topic: Topics.OrdersEvents,
      group: "fragile",
      messageId: first.envelope.id,
      type: "OrderCreated",
      aggregateId: "o-1",
      error: "fragile is broken",
      status: "dead",
      replayCount: 0,
      replayedAt: null,
    });
    expect(summary.attempts).toBeGreaterThanOrEqual(1);
    expect(summary.attempts).toBeLessThanOrEqual(MAX_RETRIES);

    const letter = await broker.call<DeadLetter, object>("deadletters.get", { id: summary.id });
    expect(letter.payload).toEqual(first.envelope);
    expect(letter.headers).toMatchObject({
      ...first.headers,
      [DeadLetterHeaders.originalChannel]: `${prefix}.${Topics.OrdersEvents}`,
      [DeadLetterHeaders.originalGroup]: "fragile",
    });

    // The same dead letter delivered again is not stored twice. A second one
    // sent after it shows the store has caught up (one consumer, in order).
    await broker.sendToChannel(dlqTopic(Topics.OrdersEvents), letter.payload, {
      headers: letter.headers,
    });
    const second = poison("o-2");
    await broker.sendToChannel(dlqTopic(Topics.OrdersEvents), second.envelope, {
      headers: {
        ...second.headers,
        [DeadLetterHeaders.originalGroup]: "fragile",
        [DeadLetterHeaders.originalId]: "manual-1",
      },
    });
    await waitFor(async () => (await list()).total === 2);
    expect((await list({ topic: Topics.OrdersEvents })).items.map((i) => i.aggregateId)).toEqual([
      "o-2",
      "o-1",
    ]);

    broken = false;
    const { replayed } = await broker.call<{ replayed: DeadLetterSummary[] }, object>(
      "deadletters.replay",
      { id: summary.id },
    );
    expect(replayed).toHaveLength(1);
    expect(replayed[0]).toMatchObject({ id: summary.id, status: "replayed", replayCount: 1 });
    expect(replayed[0].replayedAt).not.toBeNull();

    const [again] = await waitFor(() => (handled.length ? handled : undefined));
    expect(again.envelope).toEqual(first.envelope);
    expect(again.headers).toMatchObject({
      correlationId: "corr-o-1",
      messageId: first.envelope.id,
      [ReplayHeaders.replayOf]: String(summary.id),
      [ReplayHeaders.replayCount]: "1",
    });
    expect(again.headers[DeadLetterHeaders.errorMessage]).toBeUndefined();
    expect(again.meta).toMatchObject({ correlationId: "corr-o-1", messageId: first.envelope.id });

    // Replay by topic takes what is still dead.
    const byTopic = await broker.call<{ replayed: DeadLetterSummary[] }, object>(
      "deadletters.replay",
      { topic: Topics.OrdersEvents },
    );
    expect(byTopic.replayed.map((r) => r.aggregateId)).toEqual(["o-2"]);
    await waitFor(() => handled.length === 2);
    expect(handled[1].envelope.id).toBe(second.envelope.id);
    expect((await list()).items.every((i) => i.status === "replayed")).toBe(true);
  });

  it("marks a replay that fails again as dead again, and checks operator input", async () => {
    const [letter] = (await list({ topic: Topics.OrdersEvents, pageSize: 1 })).items;
    broken = true;
    await broker.call("deadletters.replay", { id: letter.id });

    const dead = await waitFor(async () => {
      const d = await broker.call<DeadLetter, object>("deadletters.get", { id: letter.id });
      return d.status === "dead" ? d : undefined;
    });
    expect(dead).toMatchObject({ replayCount: letter.replayCount + 1, error: "fragile is broken" });
    expect(dead.headers[ReplayHeaders.replayOf]).toBe(String(letter.id));
    expect((await list()).total).toBe(2);

    await expect(broker.call("deadletters.get", { id: 999_999 })).rejects.toMatchObject({
      code: 404,
    });
    await expect(broker.call("deadletters.replay", {})).rejects.toMatchObject({ code: 400 });
    await expect(broker.call("deadletters.list", { pageSize: 101 })).rejects.toMatchObject({
      code: 422,
    });
  });
});
