import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import type {
  ReservationLine,
  ReservationOutcome,
  StockChangedPayload,
  StockLevel,
} from "../../lib/contracts/catalog";
import type { RelationalDatabase } from "../../lib/infra/relational";
import { durableChannel } from "../../lib/messaging/channel";
import type { MessageEnvelope } from "../../lib/messaging/envelope";
import { EventTypes, Topics } from "../../lib/messaging/topics";
import InventoryService from "../../services/inventory/inventory.service";
import type { ReservationStatusReport } from "../../services/inventory/reservation.use-cases";
import { startBroker } from "../helpers/channels";
import { adaptersFor, dropMysqlDatabases, freshMysqlUrl, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The inventory service on a real broker and a real database (embedded
 * SQLite, and MariaDB when TEST_MYSQL_URL is set): its actions under
 * concurrency, with the tables read directly to check that stock is never
 * oversold and that every stock change was announced. Only the inventory
 * service runs (stock is seeded with setStockBulk, so no catalog is needed);
 * a probe consumes product.events and inventory.events. Each test uses
 * products and reservation ids of its own.
 */

interface Received<P> {
  envelope: MessageEnvelope<P>;
}

function eventsProbe(name: string) {
  const stock: Received<StockChangedPayload>[] = [];
  const reservations: Received<ReservationOutcome>[] = [];
  const service: ServiceSchema = {
    name,
    channels: {
      [Topics.ProductEvents]: durableChannel<StockChangedPayload>(Topics.ProductEvents, {
        group: `${name}-stock`,
        handler(envelope) {
          if (envelope.type === EventTypes.StockChanged) stock.push({ envelope });
        },
      }),
      [Topics.InventoryEvents]: durableChannel<ReservationOutcome>(Topics.InventoryEvents, {
        group: `${name}-reservations`,
        handler(envelope) {
          reservations.push({ envelope });
        },
      }),
    },
  };
  return { service, stock, reservations };
}

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.each(adaptersFor("mysql"))("inventory on %s", (adapter) => {
  const mysqlUrl = adapter === "mysql" ? freshMysqlUrl() : undefined;
  const sqliteDir = mysqlUrl ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), "inventory-"));
  const storage: Record<string, string> = mysqlUrl
    ? { MYSQL_URL: mysqlUrl }
    : { SQLITE_STORAGE: sqliteDir! };
  const probe = eventsProbe("inventory-probe");
  let broker: ServiceBroker;
  let db: RelationalDatabase;
  const brokers: ServiceBroker[] = [];

  beforeAll(async () => {
    broker = await startBroker({ ...storage, RESERVATION_SWEEP_INTERVAL_MS: "0" }, [
      InventoryService,
      probe.service,
    ]);
    brokers.push(broker);
    db = databaseOf(broker);
  });

  afterAll(async () => {
    for (const b of brokers.reverse()) await b.stop();
    if (mysqlUrl) await dropMysqlDatabases(mysqlUrl);
    if (sqliteDir) fs.rmSync(sqliteDir, { recursive: true, force: true });
  });

  // ---- helpers

  function databaseOf(b: ServiceBroker): RelationalDatabase {
    return (b.getLocalService("inventory") as unknown as { db: RelationalDatabase }).db;
  }

  const product = () => uniqueName("p");
  const reservation = () => uniqueName("r");

  const seed = (levels: { productId: string; onHand: number }[]) =>
    broker.call<{ updated: number }, object>("inventory.setStockBulk", { levels });
  const reserve = (reservationId: string, lines: ReservationLine[], b = broker) =>
    b.call<ReservationOutcome, object>("inventory.reserve", { reservationId, lines });
  const commit = (reservationId: string) =>
    broker.call<ReservationOutcome, object>("inventory.commit", { reservationId });
  const release = (reservationId: string, reason?: string) =>
    broker.call<ReservationOutcome, object>("inventory.release", { reservationId, reason });
  const level = async (productId: string) =>
    (await broker.call<StockLevel[], object>("inventory.levels", { productIds: [productId] }))[0];

  async function rows<T extends object>(sql: string, replacements: unknown[] = []): Promise<T[]> {
    return db.sequelize.query<T>(sql, { replacements, type: QueryTypes.SELECT });
  }

  async function failure(promise: Promise<unknown>): Promise<{ code: number; type: string }> {
    try {
      await promise;
    } catch (err) {
      return err as { code: number; type: string };
    }
    throw new Error("expected the call to fail");
  }

  /** 0 ≤ reserved ≤ on_hand everywhere, and reserved = what open reservations hold. */
  async function expectInvariants(productIds: string[]): Promise<void> {
    const broken = await rows(
      "SELECT product_id FROM stock_levels WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand",
    );
    expect(broken).toEqual([]);
    const held = await rows<{ product_id: string; n: number | string }>(
      `SELECT l.product_id, SUM(l.quantity) AS n FROM reservation_lines l
       JOIN reservations r ON r.id = l.reservation_id
       WHERE r.status = 'RESERVED' AND l.product_id IN (?) GROUP BY l.product_id`,
      [productIds],
    );
    const heldBy = new Map(held.map((h) => [h.product_id, Number(h.n)]));
    for (const productId of productIds)
      expect([productId, (await level(productId)).reserved]).toEqual([
        productId,
        heldBy.get(productId) ?? 0,
      ]);
  }

  async function outboxCount(aggregateId: string, type: string): Promise<number> {
    const [row] = await rows<{ n: number | string }>(
      "SELECT COUNT(*) AS n FROM outbox_events WHERE aggregate_id = ? AND type = ?",
      [aggregateId, type],
    );
    return Number(row.n);
  }

  /**
   * Every change of the product's row was announced: StockChanged versions
   * 1..current, first seen in increasing order, the last one equal to the row.
   */
  async function expectStockAnnounced(productId: string): Promise<void> {
    const current = await level(productId);
    const seen = await waitFor(
      () => {
        const mine = probe.stock.map((r) => r.envelope).filter((e) => e.aggregateId === productId);
        const unique = [...new Map(mine.map((e) => [e.id, e])).values()];
        return unique.length >= current.version ? unique : undefined;
      },
      { timeoutMs: 10_000 },
    );
    const versions = seen.map((e) => e.payload.version);
    expect(versions).toEqual(Array.from({ length: current.version }, (_, i) => i + 1));
    expect(seen.at(-1)!.payload).toEqual(current);
    for (const e of seen) {
      const p = e.payload;
      expect(p.available).toBe(p.onHand - p.reserved);
      expect(p.reserved).toBeGreaterThanOrEqual(0);
      expect(p.reserved).toBeLessThanOrEqual(p.onHand);
    }
  }

  // ---- tests

  it("never oversells: 50 concurrent reservations of 1 against 10 units reserve exactly 10", async () => {
    const p = product();
    await seed([{ productId: p, onHand: 10 }]);
    const ids = Array.from({ length: 50 }, () => reservation());

    const outcomes = await Promise.all(
      ids.map((id) => reserve(id, [{ productId: p, quantity: 1 }])),
    );

    const reserved = outcomes.filter((o) => o.status === "RESERVED");
    const rejected = outcomes.filter((o) => o.status === "REJECTED");
    expect(reserved).toHaveLength(10);
    expect(rejected).toHaveLength(40);
    for (const o of rejected) {
      expect(o.reason).toBe("OUT_OF_STOCK");
      expect(o.shortages).toEqual([{ productId: p, requested: 1, available: 0 }]);
    }
    expect(await level(p)).toMatchObject({ onHand: 10, reserved: 10, available: 0, version: 11 });

    const stored = await rows<{ status: string; n: number | string }>(
      "SELECT status, COUNT(*) AS n FROM reservations WHERE id IN (?) GROUP BY status ORDER BY status",
      [ids],
    );
    expect(stored.map((s) => [s.status, Number(s.n)])).toEqual([
      ["REJECTED", 40],
      ["RESERVED", 10],
    ]);
    await expectInvariants([p]);
    await expectStockAnnounced(p);
  });

  it("never oversells with concurrent multi-line reservations over 3 products: all lines or none", async () => {
    const products = [product(), product(), product()];
    const stock = [10, 7, 5];
    await seed(products.map((productId, i) => ({ productId, onHand: stock[i] })));
    const rnd = random(42);
    const requests = Array.from({ length: 40 }, () => {
      const chosen = products.filter(() => rnd() < 0.6);
      const lines = (chosen.length ? chosen : [products[Math.floor(rnd() * 3)]]).map(
        (productId) => ({ productId, quantity: 1 + Math.floor(rnd() * 3) }),
      );
      // Unsorted, with a product sometimes split over two lines (merged by the service).
      lines.reverse();
      if (rnd() < 0.3) lines.push({ productId: lines[0].productId, quantity: 1 });
      return { id: reservation(), lines };
    });

    const outcomes = await Promise.all(requests.map((r) => reserve(r.id, r.lines)));

    const levels = await broker.call<StockLevel[], object>("inventory.levels", {
      productIds: products,
    });
    const reservedBy = new Map(products.map((p) => [p, 0]));
    outcomes.forEach((o, i) => {
      const wanted = new Map<string, number>();
      for (const l of requests[i].lines)
        wanted.set(l.productId, (wanted.get(l.productId) ?? 0) + l.quantity);
      expect(o.lines).toEqual(
        [...wanted]
          .map(([productId, quantity]) => ({ productId, quantity }))
          .sort((a, b) => (a.productId < b.productId ? -1 : 1)),
      );
      if (o.status === "RESERVED") {
        for (const l of o.lines)
          reservedBy.set(l.productId, reservedBy.get(l.productId)! + l.quantity);
      } else {
        expect(o.status).toBe("REJECTED");
        expect(o.shortages!.length).toBeGreaterThan(0);
        for (const s of o.shortages!) {
          expect(s.requested).toBe(wanted.get(s.productId));
          expect(s.available).toBeLessThan(s.requested);
        }
        // Stock only went down during the run: what was short then is short now.
        const stillShort = o.lines.some(
          (l) => l.quantity > levels.find((x) => x.productId === l.productId)!.available,
        );
        expect(stillShort).toBe(true);
      }
    });
    expect(outcomes.filter((o) => o.status === "RESERVED").length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.status === "REJECTED").length).toBeGreaterThan(0);
    levels.forEach((l, i) => {
      expect(l.onHand).toBe(stock[i]);
      expect(l.reserved).toBe(reservedBy.get(l.productId));
      expect(l.reserved).toBeLessThanOrEqual(l.onHand);
    });
    // All or none: a rejected reservation holds no line, a reserved one all of its lines.
    const rejectedIds = outcomes.filter((o) => o.status === "REJECTED").map((o) => o.reservationId);
    const rejectedRows = await rows<{ id: string; status: string }>(
      "SELECT id, status FROM reservations WHERE id IN (?)",
      [rejectedIds],
    );
    expect(new Set(rejectedRows.map((r) => r.status))).toEqual(new Set(["REJECTED"]));
    await expectInvariants(products);
    for (const p of products) await expectStockAnnounced(p);
  });

  it("applies repeated and concurrent repeated reserve, commit and release once", async () => {
    const p = product();
    await seed([{ productId: p, onHand: 5 }]);
    const r1 = reservation();
    const lines = [{ productId: p, quantity: 2 }];

    const reserves = await Promise.all(Array.from({ length: 10 }, () => reserve(r1, lines)));
    const expected = { reservationId: r1, status: "RESERVED", lines };
    for (const o of reserves) expect(o).toEqual(expected);
    expect(await reserve(r1, [{ productId: p, quantity: 4 }])).toEqual(expected);
    expect(await level(p)).toMatchObject({ onHand: 5, reserved: 2, version: 2 });
    expect(await outboxCount(r1, EventTypes.StockReserved)).toBe(1);

    const commits = await Promise.all(Array.from({ length: 10 }, () => commit(r1)));
    for (const o of commits) expect(o).toEqual({ ...expected, status: "COMMITTED" });
    expect(await commit(r1)).toEqual({ ...expected, status: "COMMITTED" });
    expect(await level(p)).toMatchObject({ onHand: 3, reserved: 0, version: 3 });
    expect(await outboxCount(r1, EventTypes.StockCommitted)).toBe(1);
    // A committed reservation cannot be released (nor reserved again).
    expect(await failure(release(r1))).toMatchObject({ code: 409, type: "CONFLICT" });
    expect((await reserve(r1, lines)).status).toBe("COMMITTED");

    const r2 = reservation();
    await reserve(r2, lines);
    const releases = await Promise.all(
      Array.from({ length: 10 }, () => release(r2, "PAYMENT_FAILED")),
    );
    for (const o of releases)
      expect(o).toEqual({ reservationId: r2, status: "RELEASED", lines, reason: "PAYMENT_FAILED" });
    expect(await release(r2, "SOMETHING_ELSE")).toMatchObject({ reason: "PAYMENT_FAILED" });
    expect(await level(p)).toMatchObject({ onHand: 3, reserved: 0, version: 5 });
    expect(await outboxCount(r2, EventTypes.StockReleased)).toBe(1);
    // A released reservation cannot be committed.
    expect(await failure(commit(r2))).toMatchObject({ code: 409, type: "CONFLICT" });
    expect(await failure(commit(reservation()))).toMatchObject({ code: 404, type: "NOT_FOUND" });

    // A repeat of a rejected reserve stays rejected, even once stock has arrived.
    const q = product();
    await seed([{ productId: q, onHand: 1 }]);
    const r3 = reservation();
    const rejected = await reserve(r3, [{ productId: q, quantity: 2 }]);
    expect(rejected).toMatchObject({
      status: "REJECTED",
      shortages: [{ productId: q, requested: 2, available: 1 }],
    });
    await seed([{ productId: q, onHand: 10 }]);
    expect(await reserve(r3, [{ productId: q, quantity: 2 }])).toEqual(rejected);
    expect(await failure(commit(r3))).toMatchObject({ code: 409 });
    expect(await failure(release(r3))).toMatchObject({ code: 409 });
    expect(await level(q)).toMatchObject({ onHand: 10, reserved: 0 });
    expect(await outboxCount(r3, EventTypes.StockRejected)).toBe(1);

    await expectInvariants([p, q]);
    // The events that did go out: one per transition.
    await waitFor(() =>
      probe.reservations.some(
        (r) => r.envelope.aggregateId === r3 && r.envelope.type === EventTypes.StockRejected,
      ),
    );
    const types = (id: string) =>
      probe.reservations.filter((r) => r.envelope.aggregateId === id).map((r) => r.envelope.type);
    expect(types(r1)).toEqual([EventTypes.StockReserved, EventTypes.StockCommitted]);
    expect(types(r2)).toEqual([EventTypes.StockReserved, EventTypes.StockReleased]);
    expect(types(r3)).toEqual([EventTypes.StockRejected]);
    await expectStockAnnounced(p);
  });

  it("commit moves stock out of the warehouse; release gives it back", async () => {
    const p = product();
    await seed([{ productId: p, onHand: 10 }]);
    const [r1, r2] = [reservation(), reservation()];
    await reserve(r1, [{ productId: p, quantity: 3 }]);
    await reserve(r2, [{ productId: p, quantity: 4 }]);
    expect(await level(p)).toMatchObject({ onHand: 10, reserved: 7, available: 3 });

    await commit(r1);
    expect(await level(p)).toMatchObject({ onHand: 7, reserved: 4, available: 3 });
    await release(r2, "CANCELLED");
    expect(await level(p)).toEqual({
      productId: p,
      onHand: 7,
      reserved: 0,
      available: 7,
      version: 5,
    });

    const view = await broker.call<Record<string, unknown>, object>("inventory.getReservation", {
      reservationId: r2,
    });
    expect(view).toMatchObject({
      reservationId: r2,
      status: "RELEASED",
      reason: "CANCELLED",
      lines: [{ productId: p, quantity: 4 }],
    });
    expect(typeof view.expiresAt).toBe("string");
    expect(
      await failure(broker.call("inventory.getReservation", { reservationId: reservation() })),
    ).toMatchObject({ code: 404 });
    await expectInvariants([p]);
    await expectStockAnnounced(p);
  });

  it("records a release of an unknown reservation, so a late reserve of it is rejected", async () => {
    const p = product();
    await seed([{ productId: p, onHand: 5 }]);
    const r = reservation();
    expect(await release(r, "CANCELLED")).toEqual({
      reservationId: r,
      status: "RELEASED",
      lines: [],
      reason: "CANCELLED",
    });
    const late = await reserve(r, [{ productId: p, quantity: 1 }]);
    expect(late.status).toBe("RELEASED");
    expect(await level(p)).toMatchObject({ onHand: 5, reserved: 0, version: 1 });

    // Racing each other, a reserve and a release of one id always end released.
    const racing = Array.from({ length: 8 }, () => reservation());
    await Promise.all(
      racing.flatMap((id) => [
        reserve(id, [{ productId: p, quantity: 1 }]),
        release(id, "CANCELLED"),
      ]),
    );
    const statuses = await rows<{ status: string }>(
      "SELECT DISTINCT status FROM reservations WHERE id IN (?)",
      [racing],
    );
    expect(statuses).toEqual([{ status: "RELEASED" }]);
    expect(await level(p)).toMatchObject({ onHand: 5, reserved: 0 });
    await expectInvariants([p]);
    await expectStockAnnounced(p);
  });

  it("sets stock levels: never below what is reserved, a bulk call all or nothing", async () => {
    const [a, b, none] = [product(), product(), product()];
    expect(
      await seed([
        { productId: b, onHand: 4 },
        { productId: a, onHand: 6 },
      ]),
    ).toEqual({
      updated: 2,
    });
    await reserve(reservation(), [{ productId: a, quantity: 5 }]);

    const err = await failure(
      seed([
        { productId: b, onHand: 100 },
        { productId: a, onHand: 4 },
      ]),
    );
    expect(err).toMatchObject({
      code: 409,
      type: "CONFLICT",
      data: {
        details: [
          expect.objectContaining({ field: "levels[1].onHand", productId: a, reserved: 5 }),
        ],
      },
    });
    // Nothing of the refused call happened (b kept 4).
    const levels = await broker.call<StockLevel[], object>("inventory.levels", {
      productIds: [b, a, none, b],
    });
    expect(levels).toEqual([
      { productId: b, onHand: 4, reserved: 0, available: 4, version: 1 },
      { productId: a, onHand: 6, reserved: 5, available: 1, version: 2 },
      { productId: none, onHand: 0, reserved: 0, available: 0, version: 0 },
    ]);
    await seed([{ productId: a, onHand: 5 }]);
    expect(await level(a)).toMatchObject({ onHand: 5, reserved: 5, available: 0, version: 3 });

    // Validation: a product twice, a negative count, too many levels.
    expect(
      await failure(
        seed([
          { productId: b, onHand: 1 },
          { productId: b, onHand: 2 },
        ]),
      ),
    ).toMatchObject({ code: 400 });
    expect(await failure(seed([{ productId: b, onHand: -1 }]))).toMatchObject({ code: 422 });
    expect(
      await failure(broker.call("inventory.levels", { productIds: Array(1001).fill(b) })),
    ).toMatchObject({ code: 422 });
    await expectInvariants([a, b]);
    await expectStockAnnounced(a);
  });

  it("answers recent levels (maxAgeMs) that show every change committed here at once", async () => {
    const p = product();
    const recent = async (maxAgeMs = 10_000) =>
      (
        await broker.call<StockLevel[], object>("inventory.levels", { productIds: [p], maxAgeMs })
      )[0];
    await seed([{ productId: p, onHand: 10 }]);
    expect(await recent()).toMatchObject({ onHand: 10, available: 10 });

    // Reserve, commit, release and set: each is seen by the very next read.
    const [r1, r2] = [reservation(), reservation()];
    await reserve(r1, [{ productId: p, quantity: 3 }]);
    expect(await recent()).toMatchObject({ onHand: 10, reserved: 3, available: 7 });
    await commit(r1);
    expect(await recent()).toMatchObject({ onHand: 7, reserved: 0, available: 7 });
    await reserve(r2, [{ productId: p, quantity: 2 }]);
    expect(await recent()).toMatchObject({ reserved: 2, available: 5 });
    await release(r2);
    expect(await recent()).toMatchObject({ reserved: 0, available: 7 });
    await seed([{ productId: p, onHand: 1 }]);
    expect(await recent()).toEqual(await level(p));

    // A change this node did not make (another inventory node's, written here straight to
    // the table) is seen by a reader once its memo entry is older than the reader accepts.
    await db.sequelize.query(
      "UPDATE stock_levels SET on_hand = 4, version = version + 1 WHERE product_id = ?",
      { replacements: [p] },
    );
    expect(await recent()).toMatchObject({ onHand: 1 });
    expect(await level(p)).toMatchObject({ onHand: 4 });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(await recent(50)).toMatchObject({ onHand: 4 });

    expect(
      await failure(broker.call("inventory.levels", { productIds: [p], maxAgeMs: 10_001 })),
    ).toMatchObject({ code: 422 });
  });

  it("has the database refuse a row that breaks 0 ≤ reserved ≤ on_hand", async () => {
    const p = product();
    await seed([{ productId: p, onHand: 2 }]);
    for (const sql of [
      "UPDATE stock_levels SET reserved = 3 WHERE product_id = ?",
      "UPDATE stock_levels SET on_hand = -1, reserved = -1 WHERE product_id = ?",
    ]) {
      await expect(
        db.transaction((tx) => db.sequelize.query(sql, { replacements: [p], transaction: tx })),
      ).rejects.toThrow();
    }
    expect(await level(p)).toMatchObject({ onHand: 2, reserved: 0 });
  });

  it("reports reservations by status for operators", async () => {
    const report = await broker.call<ReservationStatusReport, object>("inventory.status", {});
    expect(Object.keys(report.reservations).sort()).toEqual([
      "COMMITTED",
      "REJECTED",
      "RELEASED",
      "RESERVED",
      "RETURNED",
    ]);
    expect(report.reservations.RESERVED).toBeGreaterThan(0);
    expect(report.expiredUnreleased).toBe(0);
  });

  it("releases expired reservations once, with several nodes sweeping", async () => {
    // Nodes on the same database with a 1 s time to live: one that does not sweep…
    const short = { ...storage, RESERVATION_TTL_SEC: "1" };
    const quiet = await startBroker({ ...short, RESERVATION_SWEEP_INTERVAL_MS: "0" }, [
      InventoryService,
    ]);
    brokers.push(quiet);
    const p = product();
    await seed([{ productId: p, onHand: 10 }]);
    const [expiring, committed, released] = [reservation(), reservation(), reservation()];
    const expiringToo = Array.from({ length: 5 }, () => reservation());
    for (const id of [expiring, committed, released, ...expiringToo])
      await reserve(id, [{ productId: p, quantity: 1 }], quiet);
    await quiet.call("inventory.commit", { reservationId: committed });
    await quiet.call("inventory.release", { reservationId: released });

    const report = () => quiet.call<ReservationStatusReport, object>("inventory.status", {});
    await waitFor(async () => (await report()).expiredUnreleased === 6, { timeoutMs: 3000 });
    expect(await level(p)).toMatchObject({ onHand: 9, reserved: 6 });

    // …then two that do.
    for (let i = 0; i < 2; i++)
      brokers.push(
        await startBroker({ ...short, RESERVATION_SWEEP_INTERVAL_MS: "50" }, [InventoryService]),
      );
    await waitFor(async () => (await report()).expiredUnreleased === 0, { timeoutMs: 5000 });

    expect(await level(p)).toMatchObject({ onHand: 9, reserved: 0, available: 9 });
    for (const id of [expiring, ...expiringToo]) {
      expect(await broker.call("inventory.getReservation", { reservationId: id })).toMatchObject({
        status: "RELEASED",
        reason: "EXPIRED",
      });
      expect(await outboxCount(id, EventTypes.StockReleased)).toBe(1);
    }
    expect(
      await broker.call("inventory.getReservation", { reservationId: committed }),
    ).toMatchObject({ status: "COMMITTED" });
    await expectInvariants([p]);
  });
});
