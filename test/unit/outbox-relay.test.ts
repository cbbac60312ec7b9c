import { QueryTypes } from "sequelize";
import { openDatabase, RelationalDatabase } from "../../lib/infra/relational";
import { Outbox, OutboxMessage, outboxMigrations, OutboxOptions } from "../../lib/messaging/outbox";
import { Topics } from "../../lib/messaging/topics";
import { sleep, waitFor } from "../helpers/wait";

/** The relay and sweeper on an in-memory SQLite database, with a fake channel. */
describe("outbox relay", () => {
  let db: RelationalDatabase;
  let published: OutboxMessage[];
  const outboxes: Outbox[] = [];
  const silent = { debug() {}, info() {}, warn() {}, error() {} };

  function outbox(overrides: Partial<OutboxOptions> = {}): Outbox {
    const o = new Outbox({
      db,
      service: "orders",
      logger: silent,
      sweepIntervalMs: 60_000,
      sweepAgeMs: 0,
      publish: async (m) => {
        published.push(m);
      },
      ...overrides,
    });
    outboxes.push(o);
    return o;
  }

  const message = (aggregateId: string, n: number) => ({
    topic: Topics.OrdersEvents,
    type: "OrderCreated",
    aggregateId,
    payload: { n },
  });
  const ns = () => published.map((m) => (m.envelope.payload as { n: number }).n);

  beforeEach(async () => {
    db = await openDatabase("orders", { sqliteStorage: ":memory:", perServiceDatabase: false });
    await db.migrate(outboxMigrations);
    published = [];
  });

  afterEach(async () => {
    await Promise.all(outboxes.splice(0).map((o) => o.stop()));
    await db.close();
  });

  it("publishes after commit with the headers of the calling context", async () => {
    const o = outbox();
    const id = await db.transaction((tx) =>
      o.enqueue(
        tx,
        { ...message("o-1", 1), sagaId: "saga-1" },
        {
          requestID: "req-1",
          meta: { messageId: "cause-1" },
        },
      ),
    );
    await waitFor(() => published.length === 1);
    expect(published[0].headers).toMatchObject({
      correlationId: "req-1",
      causationId: "cause-1",
      sagaId: "saga-1",
      source: "orders",
      messageId: id,
    });
    expect(published[0].envelope).toMatchObject({
      id,
      type: "OrderCreated",
      aggregateId: "o-1",
      version: 1,
    });
    await waitFor(async () => (await o.status()).unpublished === 0);
  });

  /** The statements on the outbox after its rows were inserted, as run. */
  function outboxStatements(): string[] {
    const seen: string[] = [];
    db.sequelize.addHook("afterQuery", (_options, query) => {
      const sql = String((query as { sql?: string }).sql ?? "").replace(/\s+/g, " ");
      if (sql.includes("outbox_events") && !sql.startsWith("INSERT")) seen.push(sql);
    });
    return seen;
  }

  /** A publish that waits until `open()`. */
  function gated() {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    return { open, publish: (m: OutboxMessage) => gate.then(() => void published.push(m)) };
  }

  it("relays a transaction's rows from memory after commit, in two statements", async () => {
    const o = outbox({ claimTtlMs: 60_000 });
    const statements = outboxStatements();
    await db.transaction((tx) =>
      o.enqueueAll(tx, [message("o-1", 1), message("o-2", 2), message("o-1", 3)]),
    );
    await waitFor(() => statements.some((sql) => sql.includes("SET published_at")));
    expect(ns()).toEqual([1, 2, 3]);
    // Which rows the claim still holds and what else of their aggregates waits; then the mark.
    expect(statements).toHaveLength(2);
    expect(statements[0]).toMatch(/^SELECT .* WHERE claim_token IN .* UNION ALL /);
    expect(statements[1]).toMatch(/^UPDATE outbox_events SET published_at = /);
    expect((await o.status()).unpublished).toBe(0);
  });

  it("leaves a transaction's rows to the node that wrote them while its claim holds", async () => {
    const slow = gated();
    const writer = outbox({ claimTtlMs: 60_000, publish: slow.publish });
    const other: OutboxMessage[] = [];
    const sweeper = outbox({ publish: async (m) => void other.push(m) });
    await db.transaction((tx) => writer.enqueueAll(tx, [message("o-1", 1), message("o-1", 2)]));
    await sweeper.sweep(); // every unpublished row is stale to it (sweepAgeMs 0)
    expect(other).toEqual([]);

    slow.open();
    await waitFor(async () => (await writer.status()).unpublished === 0);
    await sweeper.sweep();
    expect(ns()).toEqual([1, 2]);
    expect(other).toEqual([]);
  });

  it("renews the claim of rows that waited long for a lane before publishing them", async () => {
    const slow = gated();
    const o = outbox({ claimTtlMs: 200, publish: slow.publish });
    const statements = outboxStatements();
    await db.transaction((tx) => o.enqueue(tx, message("o-1", 1)));
    // Queued behind the first (same aggregate) until its publish is let through.
    await db.transaction((tx) => o.enqueue(tx, message("o-1", 2)));
    await sleep(150);
    slow.open();
    await waitFor(async () => (await o.status()).unpublished === 0);
    expect(ns()).toEqual([1, 2]);
    const renewals = statements.filter((sql) =>
      /SET claimed_until = \d+, claim_token = '/.test(sql),
    );
    expect(renewals).toHaveLength(1);
  });

  it("warns of a failed publish, but only informs of one while the node shuts down", async () => {
    const lines: { level: string; text: string }[] = [];
    const record = (level: string) => (text: unknown) => lines.push({ level, text: String(text) });
    let stopping = false;
    const o = outbox({
      logger: { debug() {}, info: record("info"), warn: record("warn"), error: record("error") },
      stopping: () => stopping,
      claimTtlMs: 60_000,
      publish: async () => {
        throw new Error("No live consumer in group 'search'");
      },
    });
    await db.transaction((tx) => o.enqueue(tx, message("o-w", 1)));
    await waitFor(() => lines.length === 1);
    stopping = true;
    await db.transaction((tx) => o.enqueue(tx, message("o-s", 2)));
    await waitFor(() => lines.length === 2);
    expect(lines.map((l) => l.level)).toEqual(["warn", "info"]);
    for (const line of lines) expect(line.text).toMatch(/failed; the sweeper will retry$/);
    // Neither was lost: both rows wait for the sweeper.
    expect((await o.status()).unpublished).toBe(2);
  });

  it("never publishes a rolled-back message", async () => {
    const o = outbox();
    await expect(
      db.transaction(async (tx) => {
        await o.enqueue(tx, message("o-1", 1));
        throw new Error("no");
      }),
    ).rejects.toThrow("no");
    await o.sweep();
    expect(published).toEqual([]);
    expect(await o.status()).toEqual({ unpublished: 0, oldestUnpublishedAgeMs: 0 });
  });

  it("counts a failed publish on the row and keeps later rows of the aggregate waiting", async () => {
    let refused = new Set([1]);
    const o = outbox({
      publish: async (m) => {
        const { n } = m.envelope.payload as { n: number };
        if (refused.has(n)) throw new Error("broker unreachable");
        published.push(m);
      },
    });
    await db.transaction((tx) => o.enqueue(tx, message("o-1", 1)));
    await waitFor(async () => {
      const [row] = await db.sequelize.query<{ attempts: number; last_error: string }>(
        "SELECT attempts, last_error FROM outbox_events",
        { type: QueryTypes.SELECT },
      );
      return row?.attempts === 1 && row.last_error === "broker unreachable";
    });

    await db.transaction((tx) => o.enqueue(tx, message("o-1", 2)));
    await db.transaction((tx) => o.enqueue(tx, message("o-2", 3)));
    await waitFor(() => published.length === 1);
    await sleep(20);
    expect(ns()).toEqual([3]);
    expect((await o.status()).unpublished).toBe(2);

    refused = new Set();
    await o.sweep();
    expect(ns()).toEqual([3, 1, 2]);
    expect((await o.status()).unpublished).toBe(0);
  });

  it("leaves a row a crashed relay published to the sweeper once its claim expires", async () => {
    const crashing = outbox({
      sweepAgeMs: 100,
      afterPublish: () => {
        throw new Error("crash");
      },
    });
    await db.transaction((tx) => crashing.enqueue(tx, message("o-1", 1)));
    await waitFor(() => published.length === 1);
    await crashing.stop();

    const survivor = outbox({ sweepAgeMs: 100 });
    await survivor.sweep();
    expect(published).toHaveLength(1); // still claimed by the dead relay
    await sleep(120);
    await survivor.sweep();
    expect(ns()).toEqual([1, 1]);
    expect((await survivor.status()).unpublished).toBe(0);
  });

  it("lets two sweepers share the backlog without publishing a row twice", async () => {
    const writer = outbox();
    await writer.stop(); // writes only: its relay is "down"
    for (let n = 0; n < 30; n++) {
      await db.transaction((tx) => writer.enqueue(tx, message(`o-${n % 6}`, n)));
    }
    const slowPublish = async (m: OutboxMessage) => {
      await sleep(2);
      published.push(m);
    };
    const a = outbox({ publish: slowPublish, claimTtlMs: 10_000 });
    const b = outbox({ publish: slowPublish, claimTtlMs: 10_000 });
    await Promise.all([a.sweep(), b.sweep(), a.sweep(), b.sweep()]);
    await a.sweep();

    expect([...ns()].sort((x, y) => x - y)).toEqual([...Array(30).keys()]);
    for (let agg = 0; agg < 6; agg++) {
      const order = ns().filter((n) => n % 6 === agg);
      expect(order).toEqual([...order].sort((x, y) => x - y));
    }
  });

  it("reports the backlog and its age", async () => {
    const o = outbox();
    await o.stop();
    await db.transaction((tx) => o.enqueue(tx, message("o-1", 1)));
    await sleep(20);
    const status = await o.status();
    expect(status.unpublished).toBe(1);
    expect(status.oldestUnpublishedAgeMs).toBeGreaterThanOrEqual(20);
  });
});
