import type { ChannelSchema, Context, ServiceBroker, ServiceSchema } from "moleculer";
import { DeadLetterHeaders } from "../../lib/infra/channels/dead-letter-headers";
import { durableChannel } from "../../lib/messaging/channel";
import { createEnvelope, headersFor, MessageEnvelope } from "../../lib/messaging/envelope";
import { Topic, Topics } from "../../lib/messaging/topics";
import { currentRequestContext, RequestContext } from "../../lib/observability/request-context";
import {
  ChannelsAdapterName,
  channelsEnv,
  cleanUpChannels,
  startBroker,
} from "../helpers/channels";
import { adaptersFor, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The channels contract (ARCHITECTURE §4), run against the in-process adapter
 * and, when configured, real Redis Streams and NATS JetStream (Kafka cannot
 * run here; it shares the library code paths with these).
 */

const MAX_RETRIES = 4;

interface Delivery {
  consumer: string;
  payload: { id: string; [key: string]: unknown };
  headers: Record<string, unknown>;
  requestID?: string | null;
  meta?: Record<string, unknown>;
  context?: RequestContext;
}

describe.each(adaptersFor("redis", "nats"))("channels contract on %s", (adapter) => {
  const prefix = uniqueName("chan");
  let broker: ServiceBroker;
  let deliveries: Delivery[] = [];
  const failuresLeft = new Map<string, number>();

  const of = (consumer: string) => deliveries.filter((d) => d.consumer === consumer);
  /** For waitFor: the deliveries once there are some. */
  const some = (consumer: string) => (of(consumer).length ? of(consumer) : undefined);

  /** A raw consumer (payload + transport headers) that records what it gets. */
  function recorder(
    consumer: string,
    group: string,
    fail?: (payload: Delivery["payload"]) => boolean,
  ): ChannelSchema {
    return {
      group,
      context: true,
      handler(ctxArg: unknown, raw: unknown) {
        const ctx = ctxArg as Context<Delivery["payload"], Record<string, unknown>>;
        deliveries.push({
          consumer,
          payload: ctx.params,
          headers: ctx.broker.channelAdapter.parseMessageHeaders(raw) ?? {},
          requestID: ctx.requestID,
          meta: { ...ctx.meta },
        });
        if (fail?.(ctx.params)) throw new Error(`${consumer} refuses ${ctx.params.id}`);
      },
    };
  }

  function consumerService(name: string, channels: Record<string, ChannelSchema>): ServiceSchema {
    return { name, channels };
  }

  const producer: ServiceSchema = {
    name: "producer",
    actions: {
      async send(ctx: Context<{ topic: Topic; payload: object; headers: Record<string, string> }>) {
        await this.broker.sendToChannel(ctx.params.topic, ctx.params.payload, {
          ctx,
          headers: ctx.params.headers,
        });
      },
    },
  };

  beforeAll(async () => {
    broker = await startBroker(
      {
        ...channelsEnv(adapter as ChannelsAdapterName, prefix),
        CHANNELS_MAX_RETRIES: String(MAX_RETRIES),
      },
      [
        producer,
        consumerService("g1a", { [Topics.ProductEvents]: recorder("g1a", "g1") }),
        consumerService("g1b", { [Topics.ProductEvents]: recorder("g1b", "g1") }),
        consumerService("g2", { [Topics.ProductEvents]: recorder("g2", "g2") }),
        consumerService("ctxcheck", { [Topics.CartEvents]: recorder("ctxcheck", "ctxcheck") }),
        {
          name: "envelopes",
          channels: {
            [Topics.UserEvents]: durableChannel(Topics.UserEvents, {
              group: "envelopes",
              handler(envelope: MessageEnvelope<{ n: number }>, ctx, headers) {
                deliveries.push({
                  consumer: "envelopes",
                  payload: envelope as unknown as Delivery["payload"],
                  headers,
                  requestID: ctx.requestID,
                  meta: { ...ctx.meta },
                  context: currentRequestContext(),
                });
              },
            }),
          },
        },
        consumerService("flaky", {
          [Topics.InventoryEvents]: recorder("flaky", "flaky", (p) => {
            const left = failuresLeft.get(p.id) ?? 0;
            failuresLeft.set(p.id, left - 1);
            return left > 0;
          }),
        }),
        consumerService("poison", {
          [Topics.PaymentsEvents]: recorder("poison", "poison", (p) => p.poison === true),
        }),
        consumerService("dlq", {
          [`${Topics.PaymentsEvents}.dlq`]: recorder("dlq", "dlq"),
          [`${Topics.InventoryEvents}.dlq`]: recorder("dlq", "dlq"),
        }),
      ],
    );
  });

  afterAll(async () => {
    await broker?.stop();
    await cleanUpChannels(adapter as ChannelsAdapterName, prefix);
  });

  beforeEach(() => {
    deliveries = [];
  });

  it("gives each message to one member of every group", async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `p${i}`);
    await Promise.all(ids.map((id) => broker.sendToChannel(Topics.ProductEvents, { id })));

    await waitFor(() => of("g2").length >= 10 && of("g1a").length + of("g1b").length >= 10);
    const idsOf = (c: string) => of(c).map((d) => d.payload.id);
    expect(idsOf("g2").sort()).toEqual([...ids].sort());
    expect([...idsOf("g1a"), ...idsOf("g1b")].sort()).toEqual([...ids].sort());
    expect(idsOf("g1a").filter((id) => idsOf("g1b").includes(id))).toEqual([]);
  });

  it("carries headers, ctx.meta and the request id", async () => {
    await broker.call(
      "producer.send",
      {
        topic: Topics.CartEvents,
        payload: { id: "c1" },
        headers: { correlationId: "corr-1", custom: "v" },
      },
      { meta: { tenant: "acme" }, requestID: "req-123" },
    );

    const [got] = await waitFor(() => some("ctxcheck"));
    expect(got.payload).toEqual({ id: "c1" });
    expect(got.headers).toMatchObject({ correlationId: "corr-1", custom: "v" });
    expect(got.requestID).toBe("req-123");
    expect(got.meta).toMatchObject({ tenant: "acme" });
  });

  it("hands durable consumers the envelope inside its request context", async () => {
    const envelope = createEnvelope({
      type: "UserRegistered",
      aggregateId: "u1",
      payload: { n: 1 },
    });
    const headers = headersFor(envelope, {
      source: "test",
      correlationId: "corr-2",
      sagaId: "saga-9",
    });
    await broker.sendToChannel(Topics.UserEvents, envelope, { headers: { ...headers } });

    const [got] = await waitFor(() => some("envelopes"));
    expect(got.payload).toEqual(envelope);
    expect(got.headers).toMatchObject(headers);
    expect(got.meta).toMatchObject({
      correlationId: "corr-2",
      sagaId: "saga-9",
      messageId: envelope.id,
    });
    expect(got.context).toMatchObject({ correlationId: "corr-2", sagaId: "saga-9" });
  });

  it("redelivers a message whose handler failed, until it succeeds", async () => {
    failuresLeft.set("f1", 2);
    await broker.sendToChannel(
      Topics.InventoryEvents,
      { id: "f1" },
      { headers: { messageId: "f1" } },
    );

    await waitFor(() => of("flaky").length >= 3, { timeoutMs: 10_000 });
    // A little longer than one redelivery: no fourth attempt, nothing dead-lettered.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(of("flaky").map((d) => d.payload.id)).toEqual(["f1", "f1", "f1"]);
    expect(of("dlq")).toEqual([]);
  });

  it("dead-letters a message that keeps failing, while others keep flowing", async () => {
    const poison = broker.sendToChannel(
      Topics.PaymentsEvents,
      { id: "bad", poison: true },
      { headers: { messageId: "bad", correlationId: "corr-bad" } },
    );
    const good = ["ok1", "ok2", "ok3", "ok4", "ok5"];
    await Promise.all(good.map((id) => broker.sendToChannel(Topics.PaymentsEvents, { id })));
    await poison;

    const handled = () => of("poison").map((d) => d.payload.id);
    const [dead] = await waitFor(
      () =>
        handled().filter((id) => id !== "bad").length >= good.length ? some("dlq") : undefined,
      { timeoutMs: 10_000 },
    );
    expect(
      handled()
        .filter((id) => id !== "bad")
        .sort(),
    ).toEqual(good);

    expect(dead.payload).toEqual({ id: "bad", poison: true });
    expect(dead.headers).toMatchObject({
      messageId: "bad",
      correlationId: "corr-bad",
      [DeadLetterHeaders.originalChannel]: `${prefix}.${Topics.PaymentsEvents}`,
      [DeadLetterHeaders.originalGroup]: "poison",
      [DeadLetterHeaders.errorMessage]: "poison refuses bad",
    });
    const attempts = handled().filter((id) => id === "bad").length;
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(MAX_RETRIES);
    if (adapter !== "redis") expect(attempts).toBe(MAX_RETRIES);
    expect(Number(dead.headers[DeadLetterHeaders.attempts])).toBe(attempts);

    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(of("dlq")).toHaveLength(1);
  });
});
