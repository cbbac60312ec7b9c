import { randomUUID } from "node:crypto";
import { MemoryJobQueue } from "../../../lib/infra/queue/memory";
import type { Job } from "../../../lib/infra/queue/port";
import { openDatabase, RelationalDatabase } from "../../../lib/infra/relational";
import { serviceMigrations } from "../../../services/migrations";
import { NotificationDelivery } from "../../../services/notifications/delivery";
import type { PlannedNotification } from "../../../services/notifications/notification-planner";
import { NotificationRepository } from "../../../services/notifications/notification-repository";
import { NotificationUseCases } from "../../../services/notifications/notification.use-cases";
import type { SendJob } from "../../../services/notifications/send-job";
import { TemplateRenderer } from "../../../services/notifications/templates";
import type { OutgoingEmail } from "../../../services/notifications/transports/port";

/**
 * The worker sends a notification its own node just recorded without
 * reading the row back: what is sent never changes once stored. It must
 * send exactly what a worker reading the row sends, count attempts right
 * when it retries, and never send what was not committed or was sent
 * already. On the notifications schema in SQLite; the email transport is a
 * stand-in that keeps what it is given (or fails when told to).
 */
describe("sending what this node just recorded", () => {
  let db: RelationalDatabase;
  let renderer: TemplateRenderer;
  let sent: OutgoingEmail[];
  let failNextSend: boolean;
  const warnings: string[] = [];

  beforeAll(async () => {
    renderer = await TemplateRenderer.load();
  });

  beforeEach(async () => {
    db = await openDatabase("notifications", {
      sqliteStorage: ":memory:",
      perServiceDatabase: false,
    });
    await db.migrate(serviceMigrations.notifications);
    sent = [];
    failNextSend = false;
    warnings.length = 0;
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await db.close();
  });

  /** A node's notifications: its repository (and memory), use cases and worker. */
  function node() {
    const repository = new NotificationRepository(db.sequelize);
    const queue = new MemoryJobQueue<SendJob>(`notifications-${randomUUID()}`);
    const useCases = new NotificationUseCases({
      repository,
      database: db,
      queue,
      renderer,
      retry: { attempts: 3, backoffMs: 10 },
    });
    const delivery = new NotificationDelivery({
      repository,
      database: db,
      renderer,
      transports: {
        email: {
          description: "kept in memory",
          async send(email) {
            if (failNextSend) {
              failNextSend = false;
              throw new Error("mail server busy");
            }
            sent.push(email);
          },
          close: () => undefined,
        },
        sms: { description: "unused", send: async () => undefined },
      },
      sealer: { open: () => "" },
      maxAttempts: 3,
      log: { info: () => undefined, warn: (m) => warnings.push(m) },
    });
    return { repository, useCases, delivery };
  }

  function welcome(name: string): PlannedNotification {
    return {
      id: randomUUID(),
      userId: randomUUID(),
      channel: "email",
      template: "welcome",
      recipient: `${name.toLowerCase()}@example.com`,
      // A Date is stored as its JSON string: what is kept in memory must say the same.
      data: { name, joinedAt: new Date("2026-11-27T08:00:00Z") },
      causeMessageId: randomUUID(),
      eventType: "UserRegistered",
    };
  }

  const job = (notificationId: string, attemptsMade = 0): Job<SendJob> => ({
    id: notificationId,
    name: "send",
    data: { notificationId },
    attemptsMade,
  });

  async function row(repository: NotificationRepository, id: string) {
    return (await repository.get(id))!;
  }

  it("sends a first attempt from memory, the same email a worker reading the row sends", async () => {
    const here = node();
    const elsewhere = node();
    const read = jest.spyOn(NotificationRepository.prototype, "get");
    const planned = welcome("Ann");
    await here.useCases.accept("test", { id: planned.causeMessageId }, [planned]);

    await here.delivery.deliver(job(planned.id));
    expect(read).not.toHaveBeenCalled();
    // The same notification as another node's worker would send it: from the row.
    await db.sequelize.query("UPDATE notifications SET status = 'queued' WHERE id = ?", {
      replacements: [planned.id],
    });
    await elsewhere.delivery.deliver(job(planned.id));
    expect(read).toHaveBeenCalledTimes(1);

    expect(sent).toHaveLength(2);
    expect(sent[0]).toEqual(sent[1]);
    expect(sent[0]).toMatchObject({ to: "ann@example.com", subject: "Welcome to the shop, Ann" });
  });

  it("reads the row for a retry, even where the notification was recorded", async () => {
    const here = node();
    const elsewhere = node();
    const planned = welcome("Bea");
    await here.useCases.accept("test", { id: planned.causeMessageId }, [planned]);

    // The first attempt ran on another node and failed; the retry comes here.
    failNextSend = true;
    await expect(elsewhere.delivery.deliver(job(planned.id))).rejects.toThrow("mail server busy");
    const read = jest.spyOn(NotificationRepository.prototype, "get");
    await here.delivery.deliver(job(planned.id, 1));

    expect(read).toHaveBeenCalledTimes(1);
    expect(sent.map((e) => e.to)).toEqual(["bea@example.com"]);
    expect(await row(here.repository, planned.id)).toMatchObject({ status: "sent", attempts: 2 });
  });

  it("sends nothing again for a second job of a notification already sent", async () => {
    const { useCases, delivery, repository } = node();
    const planned = welcome("Cy");
    await useCases.accept("test", { id: planned.causeMessageId }, [planned]);

    await delivery.deliver(job(planned.id));
    await delivery.deliver(job(planned.id));

    expect(sent).toHaveLength(1);
    expect(await row(repository, planned.id)).toMatchObject({ status: "sent", attempts: 1 });
  });

  it("remembers nothing of a transaction that rolled back", async () => {
    const { repository } = node();
    const planned = welcome("Dee");
    const { id, userId, channel, template, recipient, data, causeMessageId, eventType } = planned;
    const notification = { id, userId, channel, template, recipient, subject: null, data };

    await expect(
      db.transaction(async (tx) => {
        await repository.insertIfAbsent(
          { ...notification, causeMessageId, eventType },
          Date.now(),
          tx,
        );
        throw new Error("the message's other write failed");
      }),
    ).rejects.toThrow("other write failed");

    expect(repository.takeRecorded(planned.id)).toBeUndefined();
    expect(await repository.get(planned.id)).toBeUndefined();
  });

  it("remembers a notification recorded in a transaction once it commits, and gives it once", async () => {
    const { repository } = node();
    const planned = welcome("Eve");
    const { id, userId, channel, template, recipient, data, causeMessageId, eventType } = planned;
    const notification = { id, userId, channel, template, recipient, subject: null, data };

    await db.transaction(async (tx) => {
      await repository.insertIfAbsent(
        { ...notification, causeMessageId, eventType },
        Date.now(),
        tx,
      );
      expect(repository.takeRecorded(planned.id)).toBeUndefined();
    });

    const recorded = repository.takeRecorded(planned.id);
    expect(recorded).toEqual(await repository.get(planned.id));
    expect(repository.takeRecorded(planned.id)).toBeUndefined();
  });
});
