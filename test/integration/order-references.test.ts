import { randomUUID } from "node:crypto";
import { orderReference } from "../../lib/contracts/orders";
import type { RelationalDatabase } from "../../lib/infra/relational";
import { DecisionWriter } from "../../services/orders/decision-writer";
import { placeOrder } from "../../services/orders/domain/order";
import { OrderRepository } from "../../services/orders/order-repository";
import { MAX_ORDERS_PER_REFERENCE, OrderUseCases } from "../../services/orders/order.use-cases";
import type { SagaUseCases } from "../../services/orders/saga.use-cases";
import { orderRecord } from "../helpers/order-records";
import { adaptersFor, openServiceDatabase } from "../helpers/servers";

/**
 * A customer quotes the reference of an email's subject ("Your order
 * BA3FD72C is confirmed"); an operator finds the order by it. The reference
 * is the id's first eight hex digits, so it can mean more than one order:
 * all are listed, newest first, and no order of another reference. On the
 * orders schema in SQLite and MariaDB.
 */
describe.each(adaptersFor("mysql"))("orders by their emails' reference (%s)", (store) => {
  let db: RelationalDatabase;
  let close: () => Promise<void>;
  let orders: OrderUseCases;
  let writer: DecisionWriter;

  beforeEach(async () => {
    ({ db, close } = await openServiceDatabase("orders", store));
    const repository = new OrderRepository(db.sequelize);
    writer = new DecisionWriter(repository, {
      enqueueAll: async (_tx, messages) => messages.map(() => randomUUID()),
    });
    // Finding orders never moves a saga.
    orders = new OrderUseCases(repository, {} as SagaUseCases);
  });

  afterEach(() => close());

  /** An order whose id begins with `prefix` (eight hex digits), placed `agoMs` ago. */
  async function placed(prefix: string, agoMs = 0, quantity = 1) {
    const order = orderRecord({
      id: `${prefix}${randomUUID().slice(8)}`,
      createdAt: Date.now() - agoMs,
    });
    order.lines[0].quantity = quantity;
    await db.transaction((tx) => writer.create(tx, placeOrder(order), {}, null));
    return order;
  }

  it("is the id's first eight hex digits, upper-cased", () => {
    expect(orderReference("ba3fd72c-8932-4054-90a9-7af5f0fdf525")).toBe("BA3FD72C");
  });

  it("finds the one order of a reference, whatever its case", async () => {
    const order = await placed("ba3fd72c", 0, 3);
    await placed("ba3fd72d");
    await placed("0a3fd72c");
    for (const reference of ["BA3FD72C", "ba3fd72c", "Ba3Fd72C"])
      expect(await orders.findByReference(reference)).toEqual([
        expect.objectContaining({
          id: order.id,
          reference: "BA3FD72C",
          userId: order.userId,
          status: "PENDING",
          itemCount: 3,
          total: { amount: 1250, currency: "EUR" },
        }),
      ]);
    expect(await orders.findByReference("ba3fd72e")).toEqual([]);
  });

  it("lists every order a shared reference may mean, newest first, up to a limit", async () => {
    const older = await placed("c0ffee00", 60_000);
    const newer = await placed("c0ffee00", 1_000);
    expect((await orders.findByReference("C0FFEE00")).map((o) => o.id)).toEqual([
      newer.id,
      older.id,
    ]);
    for (let i = 0; i < MAX_ORDERS_PER_REFERENCE; i++) await placed("c0ffee00");
    expect(await orders.findByReference("C0FFEE00")).toHaveLength(MAX_ORDERS_PER_REFERENCE);
  });
});
