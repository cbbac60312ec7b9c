import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Context, ServiceBroker, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { DataTypes, QueryTypes } from "sequelize";
import { Migration, openDatabase, RelationalDatabase } from "../../lib/infra/relational";
import { durableChannel } from "../../lib/messaging/channel";
import type { MessageEnvelope, MessageHeaders } from "../../lib/messaging/envelope";
import { handleOnce, inboxMigrations } from "../../lib/messaging/inbox";
import { Outbox, OutboxMessage, outboxMigrations } from "../../lib/messaging/outbox";
import { Topics } from "../../lib/messaging/topics";
import { DatabaseMixin, DatabaseThis } from "../../mixins/database.mixin";
import { OutboxMixin, OutboxThis } from "../../mixins/outbox.mixin";
import {
  ChannelsAdapterName,
  channelsEnv,
  cleanUpChannels,
  startBroker,
} from "../helpers/channels";
import { adaptersFor, dropMysqlDatabases, freshMysqlUrl, uniqueName } from "../helpers/servers";
import { sleep, waitFor } from "../helpers/wait";

/**
 * The transactional outbox end to end: committed rows are all published and
 * marked even when the relay dies between publish and mark; a consumer using
 * the inbox applies each message once although it may receive it twice; a
 * rolled-back row is never published.
 */

type Store = "sqlite" | "mysql";
const available = adaptersFor("mysql", "redis", "nats");
const combos: [Store, ChannelsAdapterName][] = [["sqlite", "embedded"]];
if (available.includes("mysql")) {
  combos.push(["mysql", "embedded"]);
  if (available.includes("redis")) combos.push(["mysql", "redis"]);
  if (available.includes("nats")) combos.push(["mysql", "nats"]);
}

const ROWS = 20;
const aggregateOf = (n: number) => `agg-${n % 4}`;
/** The relay "dies" after publishing these, before marking them. */
const CRASH = new Set([5, 10, 15]);
/** Rows after a crashed one in the same aggregate wait for it (order per aggregate). */
const BLOCKED = new Set([9, 13, 17, 14, 18, 19]);

const itemsMigration: Migration = {
  name: "test-0001-items",
  async up(qi) {
    await qi.createTable("items", {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      n: { type: DataTypes.INTEGER, allowNull: false },
    });
  },
};

const effectsMigration: Migration = {
  name: "test-0001-effects",
  async up(qi) {
    // No unique key on purpose: applying a message twice would show as two rows.
    await qi.createTable("effects", {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      message_id: { type: DataTypes.STRING(36), allowNull: false },
      n: { type: DataTypes.INTEGER, allowNull: false },
    });
  },
};

interface Delivery {
  n: number;
  envelope: MessageEnvelope<{ n: number }>;
  headers: Partial<MessageHeaders>;
}

type CreateParams = { n: number };

function producer(
  afterPublish?: (message: OutboxMessage) => void,
): ServiceSchema<ServiceSettingSchema, Record<string, never>, DatabaseThis & OutboxThis> {
  return {
    name: "producer",
    mixins: [
      DatabaseMixin({ migrations: [...outboxMigrations, itemsMigration] }),
      OutboxMixin({ afterPublish }),
    ],
    actions: {
      create(ctx: Context<CreateParams>) {
        return this.db.transaction(async (tx) => {
          await this.db.sequelize.query("INSERT INTO items (n) VALUES (?)", {
            replacements: [ctx.params.n],
            transaction: tx,
          });
          return this.outbox.enqueue(
            tx,
            {
              topic: Topics.OrdersEvents,
              type: "ItemCreated",
              aggregateId: aggregateOf(ctx.params.n),
              payload: { n: ctx.params.n },
            },
            ctx,
          );
        });
      },
      async createThenFail(ctx: Context<CreateParams>) {
        await this.db.transaction(async (tx) => {
          const message = (n: number) => ({
            topic: Topics.OrdersEvents,
            type: "ItemCreated",
            aggregateId: "agg-x",
            payload: { n },
          });
          await this.outbox.enqueueAll(tx, [message(ctx.params.n), message(ctx.params.n + 1)], ctx);
          throw new Error("business rule says no");
        });
      },
      rows() {
        return this.db.sequelize.query(
          "SELECT message_id, aggregate_id, envelope, published_at, attempts FROM outbox_events ORDER BY id",
          { type: QueryTypes.SELECT },
        );
      },
    },
  };
}

function consumer(
  deliveries: Delivery[],
): ServiceSchema<ServiceSettingSchema, Record<string, never>, DatabaseThis> {
  return {
    name: "consumer",
    mixins: [DatabaseMixin({ migrations: [...inboxMigrations, effectsMigration] })],
    channels: {
      [Topics.OrdersEvents]: durableChannel<{ n: number }, DatabaseThis>(Topics.OrdersEvents, {
        group: "consumer",
        async handler(envelope, _ctx, headers) {
          deliveries.push({ n: envelope.payload.n, envelope, headers });
          await handleOnce(this.db, "consumer", envelope, async (tx) => {
            await this.db.sequelize.query("INSERT INTO effects (message_id, n) VALUES (?, ?)", {
              replacements: [envelope.id, envelope.payload.n],
              transaction: tx,
            });
          });
        },
      }),
    },
    actions: {
      effects() {
        return this.db.sequelize.query<{ message_id: string; n: number }>(
          "SELECT message_id, n FROM effects ORDER BY id",
          { type: QueryTypes.SELECT },
        );
      },
      inboxSize() {
        return this.db.sequelize
          .query<{ c: number }>("SELECT COUNT(*) AS c FROM processed_messages", {
            type: QueryTypes.SELECT,
          })
          .then(([row]) => Number(row.c));
      },
    },
  };
}

describe.each(combos)("outbox on %s with %s channels", (store, channels) => {
  const prefix = uniqueName("outbox");
  const mysqlUrl = store === "mysql" ? freshMysqlUrl() : undefined;
  const sqliteDir =
    store === "sqlite" ? fs.mkdtempSync(path.join(os.tmpdir(), "outbox-")) : undefined;
  const env: Record<string, string> = {
    ...channelsEnv(channels, prefix),
    OUTBOX_SWEEP_INTERVAL_MS: "100",
    OUTBOX_SWEEP_AGE_MS: "400",
    ...(mysqlUrl ? { MYSQL_URL: mysqlUrl } : { SQLITE_STORAGE: sqliteDir! }),
  };
  const deliveries: Delivery[] = [];
  const crashed: number[] = [];
  let broker: ServiceBroker | undefined;

  afterAll(async () => {
    await broker?.stop();
    if (mysqlUrl) await dropMysqlDatabases(mysqlUrl);
    if (sqliteDir) fs.rmSync(sqliteDir, { recursive: true, force: true });
    await cleanUpChannels(channels, prefix);
  });

  it("publishes every committed row exactly once in effect, across a relay crash", async () => {
    // Node 1: its relay dies between publish and mark for some rows.
    broker = await startBroker(env, [
      producer((message) => {
        const { n } = message.envelope.payload as { n: number };
        if (CRASH.has(n)) {
          crashed.push(n);
          throw new Error(`simulated crash after publishing ${n}`);
        }
      }),
      consumer(deliveries),
    ]);

    const ids: string[] = [];
    for (let n = 0; n < ROWS; n++) {
      ids.push(await broker.call("producer.create", { n }, { requestID: `req-${n}` }));
    }
    await expect(broker.call("producer.createThenFail", { n: 999 })).rejects.toThrow(/says no/);

    const expectedFirst = [...Array(ROWS).keys()].filter((n) => !BLOCKED.has(n));
    const effectsOf = (b: ServiceBroker) =>
      b.call<{ n: number; message_id: string }[], object>("consumer.effects", {});
    await waitFor(async () => (await effectsOf(broker!)).length === expectedFirst.length, {
      timeoutMs: 10_000,
    });
    await waitFor(() => [...CRASH].every((n) => crashed.includes(n)));
    expect((await effectsOf(broker)).map((e) => e.n).sort((a, b) => a - b)).toEqual(expectedFirst);
    await broker.stop();

    // Node 2: a fresh relay and sweeper on the same database and channels.
    broker = await startBroker(env, [producer(), consumer(deliveries)]);
    await waitFor(
      async () => {
        const status = await broker!.call<{ unpublished: number }, object>(
          "producer.outboxStatus",
          {},
        );
        return status.unpublished === 0 && (await effectsOf(broker!)).length === ROWS;
      },
      { timeoutMs: 10_000 },
    );

    expect(await broker.call("producer.outboxStatus")).toEqual({
      service: "producer",
      unpublished: 0,
      oldestUnpublishedAgeMs: 0,
    });
    const rows = await broker.call<{ message_id: string; published_at: number | null }[], object>(
      "producer.rows",
      {},
    );
    expect(rows.map((r) => r.message_id)).toEqual(ids);
    expect(rows.every((r) => r.published_at != null)).toBe(true);

    // Each message applied once, although the crashed ones arrived at least twice.
    const effects = await effectsOf(broker);
    expect(effects.map((e) => e.n).sort((a, b) => a - b)).toEqual([...Array(ROWS).keys()]);
    expect(new Set(effects.map((e) => e.message_id)).size).toBe(ROWS);
    expect(await broker.call("consumer.inboxSize")).toBe(ROWS);
    for (const n of CRASH)
      expect(deliveries.filter((d) => d.n === n).length).toBeGreaterThanOrEqual(2);
    expect(deliveries.some((d) => d.n === 999 || d.n === 1000)).toBe(false);

    // Per aggregate, messages were first seen in the order they were written.
    for (const aggregate of ["agg-0", "agg-1", "agg-2", "agg-3"]) {
      const firstSeen = [
        ...new Set(deliveries.filter((d) => aggregateOf(d.n) === aggregate).map((d) => d.n)),
      ];
      expect(firstSeen).toEqual([...firstSeen].sort((a, b) => a - b));
    }

    // Headers of ARCHITECTURE §4: correlation from the request, source, message id.
    const seven = deliveries.find((d) => d.n === 7)!;
    expect(seven.headers).toMatchObject({
      correlationId: "req-7",
      source: "producer",
      messageId: seven.envelope.id,
    });
    expect(seven.envelope).toMatchObject({ type: "ItemCreated", version: 1, aggregateId: "agg-3" });
  });
});

/**
 * Two relays (two nodes) on one outbox table, draining at once the rows of
 * one transaction that wrote many aggregates several times each (more than
 * a batch), on a node whose relay is down (its rows are nobody's, as after a
 * crash): each aggregate's messages reach the consumer in order, none is
 * published twice, and the consumer's inbox applies each once.
 */
const stores: Store[] = available.includes("mysql") ? ["sqlite", "mysql"] : ["sqlite"];

describe.each(stores)("two relays draining one outbox on %s", (store) => {
  const AGGREGATES = 120;
  const ROUNDS = 6;
  const GROUP = 10;
  const mysqlUrl = store === "mysql" ? freshMysqlUrl() : undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "outbox-nodes-"));
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const databases: RelationalDatabase[] = [];
  const relays: Outbox[] = [];

  async function open(service: string): Promise<RelationalDatabase> {
    const db = await openDatabase(
      service,
      mysqlUrl
        ? { mysqlUrl, perServiceDatabase: true, sqliteStorage: dir }
        : { sqliteStorage: dir, perServiceDatabase: false },
    );
    databases.push(db);
    return db;
  }

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await Promise.all(databases.map((db) => db.close()));
    if (mysqlUrl) await dropMysqlDatabases(mysqlUrl);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps each aggregate's order and applies each message once", async () => {
    // Two handles on one database, as two nodes have (on SQLite: two connections to one file).
    const nodeA = await open("producer");
    const nodeB = await open("producer");
    await nodeA.migrate(outboxMigrations);
    const consumerDb = await open("consumer");
    await consumerDb.migrate([...inboxMigrations, effectsMigration]);

    const deliveries: { node: string; aggregateId: string; round: number }[] = [];
    const relay = (db: RelationalDatabase, node: string) => {
      const outbox = new Outbox({
        db,
        service: "producer",
        logger: silent,
        // Both nodes sweep all the time, and no claim expires during the test.
        sweepIntervalMs: 10,
        sweepAgeMs: 0,
        claimTtlMs: 60_000,
        async publish(message) {
          const envelope = message.envelope as MessageEnvelope<{ round: number }>;
          await sleep(message.id % 3); // uneven publish times interleave the nodes
          deliveries.push({
            node,
            aggregateId: message.aggregateId,
            round: envelope.payload.round,
          });
          await handleOnce(consumerDb, "consumer", envelope, async (tx) => {
            await consumerDb.sequelize.query("INSERT INTO effects (message_id, n) VALUES (?, ?)", {
              replacements: [envelope.id, envelope.payload.round],
              transaction: tx,
            });
          });
        },
      });
      relays.push(outbox);
      outbox.start();
      return outbox;
    };
    const a = relay(nodeA, "a");
    const b = relay(nodeB, "b");

    // Groups of aggregates, rounds interleaved within a group: the batch boundary (500
    // rows) splits a group, so some aggregates straddle batches and nodes, and the
    // groups after it are left for b while a publishes the first batch.
    const aggregates = Array.from({ length: AGGREGATES }, (_, i) => `agg-${i}`);
    const writer = relay(nodeA, "writer");
    await writer.stop();
    await nodeA.transaction(async (tx) => {
      // A group's round in one multi-row insert (enqueueAll), in the order given.
      for (let group = 0; group < AGGREGATES; group += GROUP)
        for (let round = 0; round < ROUNDS; round++)
          await writer.enqueueAll(
            tx,
            aggregates.slice(group, group + GROUP).map((aggregateId) => ({
              topic: Topics.OrdersEvents,
              type: "ItemChanged",
              aggregateId,
              payload: { round },
            })),
          );
    });
    // Both relays are kicked for the same aggregates at once.
    await Promise.all([a.kick(...aggregates), b.kick(...aggregates)]);
    await waitFor(async () => (await b.status()).unpublished === 0, { timeoutMs: 20_000 });

    const total = AGGREGATES * ROUNDS;
    expect(deliveries).toHaveLength(total);
    for (const aggregateId of aggregates) {
      const rounds = deliveries.filter((d) => d.aggregateId === aggregateId).map((d) => d.round);
      expect(rounds).toEqual([...Array(ROUNDS).keys()]);
    }
    const effects = await consumerDb.sequelize.query<{ message_id: string }>(
      "SELECT message_id FROM effects",
      { type: QueryTypes.SELECT },
    );
    expect(effects).toHaveLength(total);
    expect(new Set(effects.map((e) => e.message_id)).size).toBe(total);
    // Both nodes took part.
    expect(new Set(deliveries.map((d) => d.node))).toEqual(new Set(["a", "b"]));
  });
});
