import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { RequestMeta } from "../../lib/auth/meta";
import type { NotificationView } from "../../lib/contracts/notifications";
import { PeriodicTask } from "../../lib/concurrency/periodic-task";
import { infrastructureOf } from "../../lib/infra";
import type { JobQueue } from "../../lib/infra/queue/port";
import { durableChannel, MessageContext } from "../../lib/messaging/channel";
import type { MessageEnvelope } from "../../lib/messaging/envelope";
import { Topic, Topics } from "../../lib/messaging/topics";
import {
  queueNamed,
  queueReport,
  QueueStatusAnswer,
  queueStatusParams,
  RetryFailedJobsAnswer,
  RetryFailedJobsParams,
  retryFailedJobsParams,
} from "../../lib/ops/queue-status";
import type { PageOf } from "../../lib/pagination";
import { DatabaseMixin, DatabaseThis } from "../../mixins/database.mixin";
import { serviceMigrations } from "../migrations";
import { NotificationDelivery } from "./delivery";
import { directoryFor } from "./directory";
import { NotificationPlanner } from "./notification-planner";
import { NotificationRepository } from "./notification-repository";
import { NotificationUseCases } from "./notification.use-cases";
import * as P from "./notifications.params";
import { NOTIFICATIONS_QUEUE, SendJob } from "./send-job";
import { TemplateRenderer } from "./templates";
import { createTransports, Transports } from "./transports";

/**
 * The notifications service (ARCHITECTURE §7): customers hear what happened
 * to them. Moleculer glue only: the consumers of user.events, orders.events,
 * payments.events and notifications.commands hand each message to the
 * planner (which notifications, to whom) and the use cases (recorded once,
 * queued on `notifications`); the queue's worker sends them (delivery.ts);
 * `GET /notifications` is the delivery log for admins.
 */
interface NotificationsLocals extends DatabaseThis {
  renderer: TemplateRenderer;
  transports: Transports;
  queue: JobQueue<SendJob>;
  notifications: NotificationUseCases;
  sweeper: PeriodicTask;
}

interface NotificationsMethods {
  handleMessage(
    topic: Topic,
    envelope: MessageEnvelope<unknown>,
    ctx: MessageContext,
  ): Promise<void>;
}

type Ctx<P> = Context<P, RequestMeta>;
type This = Service & NotificationsLocals & NotificationsMethods;

const CONSUMER_GROUP = "notifications";

const notificationExample: NotificationView = {
  id: "0b7c2a4e-5f7e-5a51-9d2c-3e4f5a6b7c8d",
  userId: "6a1f0e4c-2b3d-4c5e-8f90-a1b2c3d4e5f6",
  channel: "email",
  template: "order-confirmed",
  recipient: "ann@example.com",
  subject: "Your order 1A2B3C4D is confirmed",
  status: "sent",
  attempts: 1,
  lastError: null,
  causeMessageId: "3c9d1e2f-4a5b-4c6d-8e7f-90a1b2c3d4e5",
  eventType: "OrderConfirmed",
  createdAt: "2025-01-01T12:00:00.000Z",
  updatedAt: "2025-01-01T12:00:01.000Z",
  sentAt: "2025-01-01T12:00:01.000Z",
};

/** One consumer per topic, all in one group: every node shares the work. */
function consumer(topic: Topic) {
  return durableChannel<unknown, This>(topic, {
    group: CONSUMER_GROUP,
    // Each message's notifications are de-duplicated by id; messages need no order among them.
    maxInFlight: 8,
    handler(envelope, ctx) {
      return this.handleMessage(topic, envelope, ctx);
    },
  });
}

const NotificationsService: ServiceSchema<
  ServiceSettingSchema,
  NotificationsMethods,
  NotificationsLocals
> = {
  name: "notifications",
  mixins: [DatabaseMixin({ migrations: serviceMigrations.notifications })],
  settings: { rest: "/" },

  actions: {
    list: {
      rest: "GET /notifications",
      auth: "admin",
      openapi: {
        summary: "The delivery log: every notification with its status, newest first",
        tags: ["notifications"],
        // A schema, not an example: an example body with `items` would be read as a schema.
        response: {
          type: "object",
          properties: {
            items: { type: "array", items: { type: "object", example: notificationExample } },
            page: { type: "integer", example: 1 },
            pageSize: { type: "integer", example: 20 },
            total: { type: "integer", example: 1 },
          },
        },
      },
      params: P.listParams,
      handler(ctx: Ctx<P.ListParams>): Promise<PageOf<NotificationView>> {
        return this.notifications.list(ctx.params);
      },
    },

    /** Operators (REPL `queues`): counts and recent failed jobs of the `notifications` queue. */
    queueStatus: {
      visibility: "public",
      params: queueStatusParams,
      async handler(): Promise<QueueStatusAnswer> {
        return { service: this.name, queues: [await queueReport(this.queue)] };
      },
    },

    /** Operators (REPL `queues retry`): failed sends are reopened and tried again. */
    retryFailedJobs: {
      visibility: "public",
      params: retryFailedJobsParams,
      async handler(ctx: Ctx<RetryFailedJobsParams>): Promise<RetryFailedJobsAnswer> {
        const { queue, jobId } = ctx.params;
        queueNamed([this.queue], queue); // 404 naming the queue this service has
        const retried = await this.notifications.retryFailedSends(jobId);
        return { service: this.name, queue, retried };
      },
    },
  },

  channels: {
    [Topics.UserEvents]: consumer(Topics.UserEvents),
    [Topics.OrdersEvents]: consumer(Topics.OrdersEvents),
    [Topics.PaymentsEvents]: consumer(Topics.PaymentsEvents),
    [Topics.NotificationsCommands]: consumer(Topics.NotificationsCommands),
  },

  methods: {
    async handleMessage(topic, envelope, ctx) {
      const planner = new NotificationPlanner(directoryFor(ctx), this.renderer);
      const plan = await planner.plan(topic, envelope);
      if (plan.kind === "ignored") {
        this.logger.debug(`${envelope.type} ${envelope.id}: ${plan.reason}`);
        return;
      }
      const outcome = await this.notifications.accept(
        `${CONSUMER_GROUP}:${topic}`,
        envelope,
        plan.notifications,
      );
      if (!outcome.firstDelivery)
        this.logger.info(
          `${envelope.type} ${envelope.id} was handled before: nothing new recorded, ${outcome.queued} notification(s) queued again`,
        );
    },
  },

  async started() {
    const infra = infrastructureOf(this.broker);
    const { config } = infra;
    if (config.notificationMaxAttempts < 1)
      throw new Error("NOTIFICATION_MAX_ATTEMPTS must be at least 1");
    if (config.notificationConcurrency < 1)
      throw new Error("NOTIFICATION_CONCURRENCY must be at least 1");
    this.renderer = await TemplateRenderer.load();
    this.transports = createTransports(config, (message) => this.logger.info(message));
    this.logger.info(`email transport: ${this.transports.email.description}`);
    this.logger.info(`sms transport: ${this.transports.sms.description}`);

    const repository = new NotificationRepository(this.db.sequelize);
    this.queue = infra.queues.queue<SendJob>(NOTIFICATIONS_QUEUE);
    this.notifications = new NotificationUseCases({
      repository,
      database: this.db,
      queue: this.queue,
      renderer: this.renderer,
      retry: { attempts: config.notificationMaxAttempts, backoffMs: config.notificationBackoffMs },
    });
    const delivery = new NotificationDelivery({
      repository,
      database: this.db,
      renderer: this.renderer,
      transports: this.transports,
      sealer: infra.messageSealer((msg) => this.logger.warn(msg)),
      maxAttempts: config.notificationMaxAttempts,
      log: this.logger,
    });
    this.queue.process((job) => delivery.deliver(job), {
      concurrency: config.notificationConcurrency,
    });
    // Rows recorded but never queued (or whose in-process queue died with its node) go back on it.
    this.sweeper = new PeriodicTask(
      async () => {
        const count = await this.notifications.requeueUnfinished(config.notificationSweepAgeMs);
        if (count) this.logger.debug(`Put ${count} unfinished notification(s) back on the queue`);
      },
      config.notificationSweepIntervalMs,
      // Redis or the database away: the next sweep tries again.
      (err) => this.logger.warn(`Notification sweep failed: ${(err as Error).message}`),
    );
    this.sweeper.start();
  },

  async stopped() {
    // Runs before the mixins' stopped hooks, so the database is still open for the sends in hand.
    await this.sweeper?.stop();
    // Stop consuming only: the queue belongs to the node, and a reloaded service consumes again.
    await this.queue?.stopProcessing();
    this.transports?.email.close();
  },
};

// Brokers and tests take untyped schemas; the typed `this` above is for the handlers.
export default NotificationsService as unknown as ServiceSchema;
