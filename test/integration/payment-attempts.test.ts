import { randomUUID } from "node:crypto";
import { QueryTypes } from "sequelize";
import type { RelationalDatabase } from "../../lib/infra/relational";
import { PaymentsRepository } from "../../services/payments/payments-repository";
import type { CallAttempt } from "../../services/payments/provider/port";
import { paymentRecord } from "../helpers/payment-records";
import { adaptersFor, openServiceDatabase } from "../helpers/servers";

/**
 * Every request to the provider is kept as a numbered attempt of its
 * payment, 1, 2, 3… in the order made, whichever node made it. A node
 * numbers on from what it committed itself without asking the database,
 * and must still never reuse or skip a number when another node recorded
 * attempts meanwhile. On the payments schema in SQLite and MariaDB; two
 * repositories over one database are two nodes.
 */
describe.each(adaptersFor("mysql"))("numbering a payment's provider requests (%s)", (store) => {
  let db: RelationalDatabase;
  let close: () => Promise<void>;
  let here: PaymentsRepository;
  let elsewhere: PaymentsRepository;

  beforeEach(async () => {
    ({ db, close } = await openServiceDatabase("payments", store));
    here = new PaymentsRepository(db.sequelize);
    elsewhere = new PaymentsRepository(db.sequelize);
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await close();
  });

  function payment() {
    const id = randomUUID();
    return paymentRecord({ id, idempotencyKey: id, orderId: randomUUID(), userId: randomUUID() });
  }

  const attempt = (outcome: CallAttempt["outcome"]): CallAttempt => ({ outcome, durationMs: 12 });

  function record(node: PaymentsRepository, paymentId: string, outcomes: CallAttempt["outcome"][]) {
    return db.transaction((tx) =>
      node.recordAttempts(tx, paymentId, "charge", outcomes.map(attempt), Date.now()),
    );
  }

  async function attempts(paymentId: string) {
    const rows = await db.sequelize.query<{ attempt_no: number | string; outcome: string }>(
      "SELECT attempt_no, outcome FROM payment_attempts WHERE payment_id = ? ORDER BY attempt_no",
      { replacements: [paymentId], type: QueryTypes.SELECT },
    );
    return rows.map((r) => ({ attempt_no: Number(r.attempt_no), outcome: r.outcome }));
  }

  function countQueries() {
    const query = jest.spyOn(db.sequelize, "query");
    return () => query.mock.calls.filter(([sql]) => String(sql).includes("MAX(attempt_no)")).length;
  }

  it("numbers the requests of a payment it created from 1 without asking the database", async () => {
    const p = payment();
    await here.insertPayment(p);
    const counts = countQueries();

    await record(here, p.id, ["timeout", "ok"]);
    await record(here, p.id, ["ok"]);

    expect(counts()).toBe(0);
    expect(await attempts(p.id)).toEqual([
      { attempt_no: 1, outcome: "timeout" },
      { attempt_no: 2, outcome: "ok" },
      { attempt_no: 3, outcome: "ok" },
    ]);
  });

  it("numbers on from the stored requests when another node made some meanwhile", async () => {
    const p = payment();
    await here.insertPayment(p);
    await record(here, p.id, ["timeout"]);
    await record(elsewhere, p.id, ["server_error", "ok"]);

    await record(here, p.id, ["ok"]);

    expect(await attempts(p.id)).toEqual([
      { attempt_no: 1, outcome: "timeout" },
      { attempt_no: 2, outcome: "server_error" },
      { attempt_no: 3, outcome: "ok" },
      { attempt_no: 4, outcome: "ok" },
    ]);
  });

  it("counts nothing a rolled-back transaction recorded", async () => {
    const p = payment();
    await here.insertPayment(p);
    await expect(
      db.transaction(async (tx) => {
        await here.recordAttempts(tx, p.id, "charge", [attempt("ok")], Date.now());
        throw new Error("the settle failed after recording");
      }),
    ).rejects.toThrow("settle failed");

    await record(here, p.id, ["ok"]);

    expect(await attempts(p.id)).toEqual([{ attempt_no: 1, outcome: "ok" }]);
  });

  it("asks the database for a payment it knows nothing of", async () => {
    const p = payment();
    await elsewhere.insertPayment(p);
    await record(elsewhere, p.id, ["ok"]);
    const counts = countQueries();

    await record(here, p.id, ["ok"]);

    expect(counts()).toBe(1);
    expect((await attempts(p.id)).map((a) => a.attempt_no)).toEqual([1, 2]);
  });
});
