import type { ServiceBroker, ServiceSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import type {
  ReservationCommand,
  ReservationOutcome,
  ReserveStockCommand,
  StockLevel,
} from "../../lib/contracts/catalog";
import type { RelationalDatabase } from "../../lib/infra/relational";
import { durableChannel, IncomingHeaders } from "../../lib/messaging/channel";
import { createEnvelope, headersFor, MessageEnvelope } from "../../lib/messaging/envelope";
import { dlqTopic, EventTypes, InventoryCommandTypes, Topics } from "../../lib/messaging/topics";
import InventoryService from "../../services/inventory/inventory.service";
import {
  ChannelsAdapterName,
  channelsEnv,
  cleanUpChannels,
  startBroker,
} from "../helpers/channels";
import { adaptersFor, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The inventory.commands consumer as the checkout saga drives it: commands
 * in on the channel, answers out on inventory.events, over the in-process
 * adapter and Redis Streams. Business refusals are answered (StockRejected
 * with a reason), not dead-lettered; a message delivered twice has one effect
 * and one answer; only a message that cannot be understood goes to the DLQ.
 */

interface Answer {
  envelope: MessageEnvelope<ReservationOutcome>;
  headers: IncomingHeaders;
}

describe.each(adaptersFor("redis"))("inventory commands over %s channels", (adapter) => {
  const prefix = uniqueName("invcmd");
  const answers: Answer[] = [];
  const deadLetters: unknown[] = [];
  let broker: ServiceBroker;

  const probe: ServiceSchema = {
    name: "saga-probe",
    channels: {
      [Topics.InventoryEvents]: durableChannel<ReservationOutcome>(Topics.InventoryEvents, {
        group: "saga-probe",
        handler(envelope, _ctx, headers) {
          answers.push({ envelope, headers });
        },
      }),
      [dlqTopic(Topics.InventoryCommands)]: {
        group: "saga-probe-dlq",
        context: true,
        handler(ctx: { params: unknown }) {
          deadLetters.push(ctx.params);
        },
      },
    },
  };

  beforeAll(async () => {
    broker = await startBroker(
      {
        ...channelsEnv(adapter as ChannelsAdapterName, prefix),
        CHANNELS_MAX_RETRIES: "2",
        SQLITE_STORAGE: ":memory:",
        RESERVATION_SWEEP_INTERVAL_MS: "0",
      },
      [InventoryService, probe],
    );
  });

  afterAll(async () => {
    await broker?.stop();
    await cleanUpChannels(adapter as ChannelsAdapterName, prefix);
  });

  const db = () =>
    (broker.getLocalService("inventory") as unknown as { db: RelationalDatabase }).db;
  const product = () => uniqueName("p");
  const reservation = () => uniqueName("r");
  const level = async (productId: string) =>
    (await broker.call<StockLevel[], object>("inventory.levels", { productIds: [productId] }))[0];
  const seed = (productId: string, onHand: number) =>
    broker.call("inventory.setStockBulk", { levels: [{ productId, onHand }] });

  function command(
    type: string,
    payload: ReserveStockCommand | ReservationCommand | Record<string, unknown>,
  ) {
    const aggregateId = String((payload as { reservationId?: unknown }).reservationId ?? "x");
    const envelope = createEnvelope({ type, aggregateId, payload });
    const headers = headersFor(envelope, {
      source: "orders",
      correlationId: `corr-${aggregateId}`,
      sagaId: aggregateId,
    });
    return { envelope, headers: { ...headers } as Record<string, string> };
  }

  async function send(message: ReturnType<typeof command>): Promise<void> {
    await broker.sendToChannel(Topics.InventoryCommands, message.envelope, {
      key: message.envelope.aggregateId,
      headers: message.headers,
    });
  }

  const answersTo = (reservationId: string) =>
    answers.filter((a) => a.envelope.aggregateId === reservationId);

  /** Waits for the n-th answer about a reservation and returns it. */
  async function answer(reservationId: string, n = 1): Promise<Answer> {
    return waitFor(() => answersTo(reservationId)[n - 1], { timeoutMs: 10_000 });
  }

  async function outboxAnswers(reservationId: string): Promise<number> {
    const [row] = await db().sequelize.query<{ n: number | string }>(
      "SELECT COUNT(*) AS n FROM outbox_events WHERE aggregate_id = ? AND topic = ?",
      { replacements: [reservationId, Topics.InventoryEvents], type: QueryTypes.SELECT },
    );
    return Number(row.n);
  }

  it("answers ReserveStock with StockReserved, or StockRejected with the shortages", async () => {
    const p = product();
    await seed(p, 3);
    const [r1, r2] = [reservation(), reservation()];
    const reserve = command(InventoryCommandTypes.ReserveStock, {
      reservationId: r1,
      lines: [{ productId: p, quantity: 2 }],
    });
    await send(reserve);

    const reserved = await answer(r1);
    expect(reserved.envelope).toMatchObject({
      type: EventTypes.StockReserved,
      aggregateId: r1,
      payload: { reservationId: r1, status: "RESERVED", lines: [{ productId: p, quantity: 2 }] },
    });
    // The answer carries the saga's correlation, and names the command as its cause.
    expect(reserved.headers).toMatchObject({
      correlationId: `corr-${r1}`,
      sagaId: r1,
      causationId: reserve.envelope.id,
      source: "inventory",
    });

    await send(
      command(InventoryCommandTypes.ReserveStock, {
        reservationId: r2,
        lines: [{ productId: p, quantity: 2 }],
      }),
    );
    expect((await answer(r2)).envelope).toMatchObject({
      type: EventTypes.StockRejected,
      payload: {
        reservationId: r2,
        status: "REJECTED",
        reason: "OUT_OF_STOCK",
        shortages: [{ productId: p, requested: 2, available: 1 }],
      },
    });
    expect(await level(p)).toMatchObject({ onHand: 3, reserved: 2 });
  });

  it("answers CommitStock with StockCommitted and ReleaseStock with StockReleased", async () => {
    const p = product();
    await seed(p, 10);
    const [toCommit, toRelease] = [reservation(), reservation()];
    for (const id of [toCommit, toRelease]) {
      await send(
        command(InventoryCommandTypes.ReserveStock, {
          reservationId: id,
          lines: [{ productId: p, quantity: 3 }],
        }),
      );
      await answer(id);
    }

    await send(command(InventoryCommandTypes.CommitStock, { reservationId: toCommit }));
    expect((await answer(toCommit, 2)).envelope).toMatchObject({
      type: EventTypes.StockCommitted,
      payload: { reservationId: toCommit, status: "COMMITTED" },
    });
    await send(
      command(InventoryCommandTypes.ReleaseStock, {
        reservationId: toRelease,
        reason: "PAYMENT_FAILED",
      }),
    );
    expect((await answer(toRelease, 2)).envelope).toMatchObject({
      type: EventTypes.StockReleased,
      payload: { reservationId: toRelease, status: "RELEASED", reason: "PAYMENT_FAILED" },
    });
    expect(await level(p)).toMatchObject({ onHand: 7, reserved: 0, available: 7 });
  });

  it("answers ReturnStock with StockReturned and puts the units back on hand, once", async () => {
    const p = product();
    await seed(p, 10);
    const r = reservation();
    await send(
      command(InventoryCommandTypes.ReserveStock, {
        reservationId: r,
        lines: [{ productId: p, quantity: 4 }],
      }),
    );
    await answer(r);
    await send(command(InventoryCommandTypes.CommitStock, { reservationId: r }));
    await answer(r, 2);
    expect(await level(p)).toMatchObject({ onHand: 6, reserved: 0 });

    const giveBack = command(InventoryCommandTypes.ReturnStock, {
      reservationId: r,
      reason: "ORDER_CANCELLED",
    });
    await send(giveBack);
    await send(giveBack);
    const returned = await answer(r, 3);
    expect(returned.envelope).toMatchObject({
      type: EventTypes.StockReturned,
      payload: {
        reservationId: r,
        status: "RETURNED",
        reason: "ORDER_CANCELLED",
        lines: [{ productId: p, quantity: 4 }],
      },
    });
    expect(returned.headers.causationId).toBe(giveBack.envelope.id);
    expect(await level(p)).toMatchObject({ onHand: 10, reserved: 0, available: 10, version: 4 });

    // A new ReturnStock gets the stored outcome; nothing comes back twice.
    await send(command(InventoryCommandTypes.ReturnStock, { reservationId: r }));
    expect((await answer(r, 4)).envelope).toMatchObject({
      type: EventTypes.StockReturned,
      payload: { status: "RETURNED" },
    });
    expect(await level(p)).toMatchObject({ onHand: 10, version: 4 });
    expect(answersTo(r)).toHaveLength(4);
    const changes = await db().sequelize.query<{ n: number | string }>(
      "SELECT COUNT(*) AS n FROM outbox_events WHERE aggregate_id = ? AND type = ?",
      { replacements: [p, EventTypes.StockChanged], type: QueryTypes.SELECT },
    );
    expect(Number(changes[0].n)).toBe(4);
  });

  it("refuses to return stock that was never committed", async () => {
    const p = product();
    await seed(p, 5);
    const [held, unknown] = [reservation(), reservation()];
    await send(
      command(InventoryCommandTypes.ReserveStock, {
        reservationId: held,
        lines: [{ productId: p, quantity: 2 }],
      }),
    );
    await answer(held);

    await send(command(InventoryCommandTypes.ReturnStock, { reservationId: held }));
    expect((await answer(held, 2)).envelope).toMatchObject({
      type: EventTypes.StockRejected,
      payload: { reservationId: held, status: "RESERVED", reason: "CANNOT_RETURN_RESERVED" },
    });
    await send(command(InventoryCommandTypes.ReturnStock, { reservationId: unknown }));
    expect((await answer(unknown)).envelope).toMatchObject({
      type: EventTypes.StockRejected,
      payload: { reservationId: unknown, reason: "NOT_FOUND" },
    });
    expect(await level(p)).toMatchObject({ onHand: 5, reserved: 2 });
    expect(deadLetters).toEqual([]);
  });

  it("answers refusals instead of dead-lettering them, and records a release that came first", async () => {
    const p = product();
    await seed(p, 5);
    const [early, unknown] = [reservation(), reservation()];

    // The saga cancelled before its ReserveStock was handled.
    await send(command(InventoryCommandTypes.ReleaseStock, { reservationId: early }));
    expect((await answer(early)).envelope).toMatchObject({
      type: EventTypes.StockReleased,
      payload: { reservationId: early, status: "RELEASED", lines: [], reason: "CANCELLED" },
    });
    await send(
      command(InventoryCommandTypes.ReserveStock, {
        reservationId: early,
        lines: [{ productId: p, quantity: 1 }],
      }),
    );
    expect((await answer(early, 2)).envelope).toMatchObject({
      type: EventTypes.StockRejected,
      payload: { reservationId: early, status: "RELEASED" },
    });
    // A commit of that released reservation, and of one nobody knows.
    await send(command(InventoryCommandTypes.CommitStock, { reservationId: early }));
    expect((await answer(early, 3)).envelope).toMatchObject({
      type: EventTypes.StockRejected,
      payload: { reservationId: early, status: "RELEASED", reason: "CANNOT_COMMIT_RELEASED" },
    });
    await send(command(InventoryCommandTypes.CommitStock, { reservationId: unknown }));
    expect((await answer(unknown)).envelope).toMatchObject({
      type: EventTypes.StockRejected,
      payload: { reservationId: unknown, reason: "NOT_FOUND" },
    });
    // Lines that can never be reserved: recorded as rejected, and answered.
    const invalid = reservation();
    await send(
      command(InventoryCommandTypes.ReserveStock, {
        reservationId: invalid,
        lines: [{ productId: p, quantity: 0 }],
      }),
    );
    expect((await answer(invalid)).envelope).toMatchObject({
      type: EventTypes.StockRejected,
      payload: { reservationId: invalid, status: "REJECTED", reason: "INVALID_LINES" },
    });

    expect(await level(p)).toMatchObject({ onHand: 5, reserved: 0, version: 1 });
    expect(deadLetters).toEqual([]);
  });

  it("applies and answers a command delivered twice once; a new command gets the stored outcome", async () => {
    const p = product();
    await seed(p, 10);
    const r = reservation();
    const reserve = command(InventoryCommandTypes.ReserveStock, {
      reservationId: r,
      lines: [{ productId: p, quantity: 4 }],
    });
    await send(reserve);
    await send(reserve);
    // The consumer handles one message at a time, in order: once the marker is
    // answered, both deliveries of the duplicate have been handled.
    const marker = reservation();
    await send(command(InventoryCommandTypes.ReleaseStock, { reservationId: marker }));
    await answer(marker);
    await answer(r);

    expect(await level(p)).toMatchObject({ onHand: 10, reserved: 4, version: 2 });
    expect(await outboxAnswers(r)).toBe(1);
    expect(answersTo(r)).toHaveLength(1);

    const commitCmd = command(InventoryCommandTypes.CommitStock, { reservationId: r });
    await send(commitCmd);
    await send(commitCmd);
    const again = command(InventoryCommandTypes.CommitStock, { reservationId: r });
    await send(again);
    const third = await answer(r, 3);
    expect(answersTo(r).map((a) => a.envelope.type)).toEqual([
      EventTypes.StockReserved,
      EventTypes.StockCommitted,
      EventTypes.StockCommitted,
    ]);
    expect(third.headers.causationId).toBe(again.envelope.id);
    expect(await level(p)).toMatchObject({ onHand: 6, reserved: 0, version: 3 });
    expect(await outboxAnswers(r)).toBe(3);
  });

  it("dead-letters a command it cannot understand", async () => {
    const bogus = command("RestockWarehouse", { reservationId: reservation() });
    await send(bogus);
    const noId = command(InventoryCommandTypes.CommitStock, { reservationId: 42 });
    await send(noId);
    await waitFor(() => deadLetters.length === 2, { timeoutMs: 10_000 });
    expect(deadLetters).toEqual(expect.arrayContaining([bogus.envelope, noId.envelope]));
  });
});
