import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Redis from "ioredis";
import type { ServiceBroker } from "moleculer";
import {
  NotificationTemplate,
  NotificationView,
  secretContext,
  SendNotificationCommand,
} from "../../lib/contracts/notifications";
import type { RelationalDatabase } from "../../lib/infra/relational";
import { createEnvelope, headersFor } from "../../lib/messaging/envelope";
import { MessageSealer } from "../../lib/messaging/sealing";
import { EventTypes, NotificationCommandTypes, Topics } from "../../lib/messaging/topics";
import type { PageOf } from "../../lib/pagination";
import { notificationId } from "../../services/notifications/domain/notification-id";
import { NotificationRepository } from "../../services/notifications/notification-repository";
import NotificationsService from "../../services/notifications/notifications.service";
import { startBroker } from "../helpers/channels";
import { startSmtpServer, TestSmtpServer } from "../helpers/outbound";
import {
  adaptersFor,
  deleteRedisKeys,
  dropMysqlDatabases,
  freshMysqlUrl,
  freshRedisPrefix,
  realServersFor,
  servers,
  uniqueName,
} from "../helpers/servers";
import { sleep, waitFor } from "../helpers/wait";

/**
 * Fault tests of the notifications service, checked by what the mail server
 * receives and what the delivery log says.
 *
 * A crash between recording notifications and queueing them leaves rows
 * `queued` with no job: the sweeper queues them again — and a password reset,
 * whose link only the lost job held, is kept as failed rather than sent
 * without it. So is a reset whose sealed link does not open: sealed under
 * another key, or for another address. Embedded, and on MariaDB + Redis
 * (BullMQ).
 *
 * The Redis connection drops (real servers only): while notifications are
 * being queued and sent, every Redis connection of the node is killed,
 * twice; each notification must still arrive, exactly once. The node's
 * connections are told apart from everyone else's on the shared Redis by
 * name: REDIS_URL carries `connectionName` (ioredis reads it from the query
 * string) and BullMQ names its workers after the key prefix, so killing the
 * clients whose name holds this suite's token hits only them.
 */
const available = adaptersFor("mysql", "redis");
const stores =
  available.includes("mysql") && available.includes("redis")
    ? ["embedded", "mariadb+redis"]
    : ["embedded"];

describe.each(stores)("notifications left unqueued by a crash (%s)", (store) => {
  const redisPrefix = freshRedisPrefix();
  const mysqlUrl = store === "embedded" ? undefined : freshMysqlUrl();
  let dataDir: string;
  let smtp: TestSmtpServer;
  let broker: ServiceBroker;
  /** The node's key, and a users node's sealer with the same key. */
  const sealingKey = randomBytes(32);
  const users = new MessageSealer(sealingKey);

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "notifications-sweep-"));
    smtp = await startSmtpServer();
    broker = await startBroker(
      {
        MESSAGE_SEALING_KEY: sealingKey.toString("hex"),
        ...(mysqlUrl
          ? { MYSQL_URL: mysqlUrl, REDIS_URL: servers.redis!, REDIS_PREFIX: redisPrefix }
          : { SQLITE_STORAGE: ":memory:" }),
        DATA_DIR: dataDir,
        SMTP_URL: smtp.url,
        NOTIFICATION_SWEEP_INTERVAL_MS: "100",
        NOTIFICATION_SWEEP_AGE_MS: "1000",
      },
      [NotificationsService],
    );
  });

  afterAll(async () => {
    await broker?.stop();
    await smtp?.close();
    if (mysqlUrl) {
      await dropMysqlDatabases(mysqlUrl);
      await deleteRedisKeys(servers.redis!, redisPrefix);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** What a node that died right after its commit leaves behind: a row, and no job. */
  async function recordedButNeverQueued(template: NotificationTemplate, to: string, data: object) {
    const db = (broker.getLocalService("notifications") as unknown as { db: RelationalDatabase })
      .db;
    const id = randomUUID();
    const longAgo = Date.now() - 60_000;
    await new NotificationRepository(db.sequelize).insertIfAbsent(
      {
        id,
        userId: null,
        channel: "email",
        template,
        recipient: to,
        subject: "Recorded before the crash",
        data: data as Record<string, unknown>,
        causeMessageId: randomUUID(),
        eventType: "Test",
      },
      longAgo,
    );
    return id;
  }

  const logged = (id: string, status: NotificationView["status"]) =>
    waitFor(
      async () => {
        const page = await broker.call<PageOf<NotificationView>, object>("notifications.list", {
          status,
          pageSize: 100,
        });
        return page.items.find((n) => n.id === id);
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );

  it("queues and sends what was recorded but never queued", async () => {
    const to = `${uniqueName("swept").toLowerCase()}@example.com`;
    const id = await recordedButNeverQueued("welcome", to, { name: "Sam Swept" });

    const mail = await smtp.waitForMail(to);
    expect(mail.subject).toBe("Welcome to the shop, Sam Swept");
    expect(await logged(id, "sent")).toMatchObject({ attempts: 1 });
    await sleep(300);
    expect(smtp.mailTo(to)).toHaveLength(1);
  });

  it("keeps a password reset whose link was lost as failed, and sends nothing", async () => {
    const to = `${uniqueName("lost").toLowerCase()}@example.com`;
    const id = await recordedButNeverQueued("password-reset", to, {
      name: "Lee Lost",
      expiresAt: new Date().toISOString(),
    });

    const failed = await logged(id, "failed");
    expect(failed.lastError).toMatch(/lost before it was queued/);
    expect(smtp.mailTo(to)).toEqual([]);
  });

  /** A PasswordResetRequested for `to` carrying `sealedResetLink`; answers its notification's id. */
  async function resetRequested(to: string, userId: string, sealedResetLink: string) {
    const envelope = createEnvelope({
      type: EventTypes.PasswordResetRequested,
      aggregateId: userId,
      payload: {
        userId,
        email: to,
        name: "Ann",
        sealedResetLink,
        expiresAt: new Date(Date.now() + 600_000).toISOString(),
      },
    });
    await broker.sendToChannel(Topics.UserEvents, envelope, {
      key: userId,
      headers: { ...headersFor(envelope, { source: "test" }) },
    });
    return notificationId(envelope.id, "password-reset", "email");
  }

  it("sends a reset link only to the address it was sealed for, under the node's key", async () => {
    const link = `https://shop.example/reset-password?token=${randomBytes(32).toString("base64url")}`;
    const userId = randomUUID();
    const ann = `${uniqueName("ann").toLowerCase()}@example.com`;
    const forAnn = users.seal(link, secretContext("password-reset", userId, ann));

    await resetRequested(ann, userId, forAnn);
    expect((await smtp.waitForMail(ann, /^Reset your password$/)).text).toContain(link);

    // Ann's sealed link copied into a message to someone else.
    const mallory = `${uniqueName("mallory").toLowerCase()}@example.com`;
    const stolen = await logged(await resetRequested(mallory, userId, forAnn), "failed");
    expect(stolen.lastError).toMatch(/do not open: .*another recipient/);
    expect(stolen.attempts).toBe(1);

    // A users node with another key.
    const bob = `${uniqueName("bob").toLowerCase()}@example.com`;
    const otherKey = new MessageSealer(randomBytes(32));
    const sealed = otherKey.seal(link, secretContext("password-reset", userId, bob));
    const mismatch = await logged(await resetRequested(bob, userId, sealed), "failed");
    expect(mismatch.lastError).toMatch(/MESSAGE_SEALING_KEY differs between nodes/);

    await sleep(200);
    expect(smtp.mailTo(mallory)).toEqual([]);
    expect(smtp.mailTo(bob)).toEqual([]);
  });
});

const needed = realServersFor("mysql", "redis");

if (needed.length === 2)
  describe("notifications when the Redis connection drops (MariaDB + BullMQ)", () => {
    const redisPrefix = freshRedisPrefix();
    /** In every connection name of this node. */
    const token = redisPrefix.replace(/:$/, "");
    const mysqlUrl = freshMysqlUrl();
    let dataDir: string;
    let smtp: TestSmtpServer;
    let broker: ServiceBroker;
    let admin: Redis;

    beforeAll(async () => {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "notifications-redis-"));
      smtp = await startSmtpServer();
      // A slow mail server, so notifications are still queued when the connections drop.
      smtp.setDelay(150);
      admin = new Redis(servers.redis!);
      broker = await startBroker(
        {
          MYSQL_URL: mysqlUrl,
          REDIS_URL: `${servers.redis}?connectionName=${encodeURIComponent(token)}`,
          REDIS_PREFIX: redisPrefix,
          DATA_DIR: dataDir,
          SMTP_URL: smtp.url,
          NOTIFICATION_BACKOFF_MS: "100",
          NOTIFICATION_MAX_ATTEMPTS: "10",
          NOTIFICATION_SWEEP_INTERVAL_MS: "250",
          NOTIFICATION_SWEEP_AGE_MS: "2000",
          CHANNELS_MAX_RETRIES: "10",
        },
        [NotificationsService],
      );
    });

    afterAll(async () => {
      await broker?.stop();
      await smtp?.close();
      admin?.disconnect();
      await dropMysqlDatabases(mysqlUrl);
      await deleteRedisKeys(servers.redis!, redisPrefix);
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    /** Kills this node's Redis connections; returns how many. */
    async function dropConnections(): Promise<number> {
      const list = (await admin.call("CLIENT", "LIST")) as string;
      const ours = list
        .split("\n")
        .map((line) => Object.fromEntries(line.split(" ").map((kv) => kv.split("="))))
        .filter((client) => typeof client.name === "string" && client.name.includes(token));
      for (const client of ours) await admin.call("CLIENT", "KILL", "ID", client.id);
      return ours.length;
    }

    function send(to: string, n: number): Promise<void> {
      const command: SendNotificationCommand = {
        notificationKey: `${token}-${n}`,
        channel: "email",
        to,
        template: "welcome",
        data: { name: `Customer ${n}` },
      };
      const envelope = createEnvelope({
        type: NotificationCommandTypes.SendNotification,
        aggregateId: command.notificationKey,
        payload: command,
      });
      return broker.sendToChannel(Topics.NotificationsCommands, envelope, {
        key: envelope.aggregateId,
        headers: { ...headersFor(envelope, { source: "test" }) },
      });
    }

    it("sends every notification exactly once", async () => {
      const count = 40;
      const addresses = Array.from(
        { length: count },
        (_, n) => `${uniqueName(`r${n}`).toLowerCase()}@example.com`,
      );

      // The first drop lands while commands are still being queued (each send returns once the
      // command was handled)…
      for (const [n, to] of addresses.entries()) {
        await send(to, n);
        if (n === count / 4) expect(await dropConnections()).toBeGreaterThanOrEqual(2);
      }
      // …the second while the worker is busy sending.
      await waitFor(() => smtp.received.length >= count / 2, { timeoutMs: 20_000 });
      expect(await dropConnections()).toBeGreaterThanOrEqual(2);

      await waitFor(() => addresses.every((to) => smtp.mailTo(to).length > 0), {
        timeoutMs: 45_000,
        intervalMs: 100,
      });
      const sent = await waitFor(
        async () => {
          const page = await broker.call<PageOf<NotificationView>, object>("notifications.list", {
            status: "sent",
            pageSize: 100,
          });
          return page.total === count ? page : undefined;
        },
        { timeoutMs: 10_000 },
      );
      expect(sent.items.map((n) => n.recipient).sort()).toEqual([...addresses].sort());
      // Nothing is still on its way: no second copy arrives later.
      await sleep(500);
      expect(addresses.filter((to) => smtp.mailTo(to).length !== 1)).toEqual([]);
    }, 90_000);
  });
