import { randomUUID } from "node:crypto";
import { openDatabase, RelationalDatabase } from "../../../lib/infra/relational";
import { EventTypes } from "../../../lib/messaging/topics";
import { serviceMigrations } from "../../../services/migrations";
import { DecisionWriter } from "../../../services/orders/decision-writer";
import { decide, placeOrder } from "../../../services/orders/domain/order";
import { OrderRepository } from "../../../services/orders/order-repository";
import { orderRecord } from "../../helpers/order-records";

/**
 * GET /orders/:id reads the order row and its timeline with two statements.
 * A saga step that commits between them must not show beside the older
 * order (a timeline saying "payment pending" next to no payment): the order
 * and its steps are always of one state. On the orders schema in SQLite.
 */
describe("reading an order while its saga moves on", () => {
  let db: RelationalDatabase;
  let repository: OrderRepository;
  let writer: DecisionWriter;

  beforeEach(async () => {
    db = await openDatabase("orders", { sqliteStorage: ":memory:", perServiceDatabase: false });
    await db.migrate(serviceMigrations.orders);
    repository = new OrderRepository(db.sequelize);
    writer = new DecisionWriter(repository, {
      enqueueAll: async (_tx, messages) => messages.map(() => randomUUID()),
    });
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await db.close();
  });

  /** What the saga commits when inventory reserves the order's stock. */
  function reserveStock(orderId: string): Promise<void> {
    return db.transaction(async (tx) => {
      const locked = (await repository.lockOrder(tx, orderId))!;
      const now = Date.now();
      const decision = decide(
        locked.order,
        {
          type: EventTypes.StockReserved,
          outcome: { reservationId: orderId, status: "RESERVED", lines: [] },
        },
        { now, paymentTimeoutMs: 60_000, paymentToken: "tok_visa" },
      );
      await writer.apply(tx, locked, decision, now, undefined, { id: randomUUID() });
    });
  }

  it("shows the timeline of the state it shows, even when a step commits between the reads", async () => {
    const order = orderRecord();
    await db.transaction((tx) => writer.create(tx, placeOrder(order), {}, "tok_visa"));

    // The stock is reserved just after the order row is read, before its timeline is.
    const readTimeline = repository.timeline.bind(repository);
    jest
      .spyOn(repository, "timeline")
      .mockImplementationOnce(async (orderId: string, throughSeq?: number) => {
        await reserveStock(orderId);
        return readTimeline(orderId, throughSeq);
      });
    const racing = await repository.findOwnOrderWithTimeline(order.userId, order.id);
    expect(racing!.order.status).toBe("PENDING");
    expect(racing!.timeline.map((s) => s.step)).toEqual([
      "ORDER_CREATED",
      "STOCK_RESERVATION_REQUESTED",
    ]);

    // The next read shows the new state with its steps.
    const next = await repository.findOwnOrderWithTimeline(order.userId, order.id);
    expect(next!.order.status).toBe("AWAITING_PAYMENT");
    expect(next!.timeline.map((s) => s.step)).toEqual([
      "ORDER_CREATED",
      "STOCK_RESERVATION_REQUESTED",
      "STOCK_RESERVED",
      "PAYMENT_REQUESTED",
    ]);
  });

  it("stores every line of an order, in order, as another node reads them", async () => {
    const order = orderRecord();
    const line = (n: number) => ({
      ...order.lines[0],
      productId: randomUUID(),
      sku: `MUG-${n}`,
      quantity: n,
      lineTotal: { amount: 1250 * n, currency: "EUR" },
    });
    order.lines = [line(1), line(2), line(3)];
    await db.transaction((tx) => writer.create(tx, placeOrder(order), {}, null));

    // A repository that has not seen the order reads its lines from the database.
    const elsewhere = new OrderRepository(db.sequelize);
    const read = await elsewhere.findOwnOrderWithTimeline(order.userId, order.id);
    expect(read!.order.lines).toEqual(order.lines);
  });

  it("finds only the user's own order", async () => {
    const order = orderRecord();
    await db.transaction((tx) => writer.create(tx, placeOrder(order), {}, null));
    expect(await repository.findOwnOrderWithTimeline(randomUUID(), order.id)).toBeNull();
    expect(await repository.findOwnOrderWithTimeline(order.userId, randomUUID())).toBeNull();
  });
});
