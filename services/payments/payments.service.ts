import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { RequestMeta } from "../../lib/auth/meta";
import type { Receipt } from "../../lib/contracts/orders";
import { infrastructureOf } from "../../lib/infra";
import type { JobQueue } from "../../lib/infra/queue/port";
import { durableChannel } from "../../lib/messaging/channel";
import { Topics } from "../../lib/messaging/topics";
import {
  queueNamed,
  queueReport,
  QueueStatusAnswer,
  queueStatusParams,
  RetryFailedJobsAnswer,
  RetryFailedJobsParams,
  retryFailedJobsParams,
} from "../../lib/ops/queue-status";
import { DatabaseMixin, DatabaseThis } from "../../mixins/database.mixin";
import { OutboxMixin } from "../../mixins/outbox.mixin";
import { serviceMigrations } from "../migrations";
import { CHARGE_RETRY_QUEUE, ChargeRetries, ChargeRetryJob } from "./charge-retries";
import { ChargeResult, ChargeUseCases } from "./charge.use-cases";
import { ChargesInFlight } from "./charges-in-flight";
import type { PaymentView } from "./domain/payment";
import { handlePaymentCommand } from "./payment-commands";
import type { PaymentsOutbox } from "./payment-events";
import { PaymentQueries } from "./payment-queries";
import { PaymentsRepository } from "./payments-repository";
import * as P from "./payments.params";
import { PeriodicTask } from "../../lib/concurrency/periodic-task";
import { ProviderSetup, setUpProvider } from "./provider/setup";
import { RefundUseCases } from "./refund.use-cases";
import { WEBHOOK_QUEUE, WebhookJob, WebhookUseCases } from "./webhook.use-cases";

/**
 * The payments service (ARCHITECTURE §3, §5, §6): charges and refunds
 * through the payment provider, provider webhooks through the
 * `payment-callbacks` queue, receipts. Moleculer glue only: the
 * `payments.commands` consumer, the actions and the queue workers hand over
 * to the use cases beside this file.
 */
interface PaymentsLocals extends DatabaseThis {
  outbox: PaymentsOutbox;
  setup: ProviderSetup;
  charges: ChargeUseCases;
  refunds: RefundUseCases;
  webhooks: WebhookUseCases;
  queries: PaymentQueries;
  repository: PaymentsRepository;
  webhookQueue: JobQueue<WebhookJob>;
  retryQueue: JobQueue<ChargeRetryJob>;
  refundSweeper: PeriodicTask;
}

type Ctx<P> = Context<P, RequestMeta>;
type This = Service & PaymentsLocals;

/** Owed refunds left behind (a failed call, a node that died) are retried this often… */
const REFUND_SWEEP_INTERVAL_MS = 15_000;
/** …once untouched for this long, so the sweeper does not race the refund in progress. */
const REFUND_SWEEP_AGE_MS = 10_000;
const WEBHOOK_CONCURRENCY = 4;
const RETRY_CONCURRENCY = 4;
/** Commands handled at once per node: a slow provider answer must not hold up other orders. */
const COMMANDS_IN_FLIGHT = 8;

const paymentExample = {
  id: "5b0c1f4e-2a9d-4c4e-9b1a-0f6f3c1d2e3a",
  orderId: "8d6f0c2a-1b3e-4f5a-9c8d-7e6f5a4b3c2d",
  userId: "c0ffee00-0000-4000-8000-000000000001",
  status: "SUCCEEDED",
  amount: { amount: 2599, currency: "EUR" },
  method: "card",
  providerReference: "ch_3f1c0a9b8e7d6c5b4a392817",
  card: { brand: "visa", last4: "4242" },
  failureCode: null,
  failureMessage: null,
  refundRequested: false,
  receiptNumber: "R-20250101-5B0C1F4E2A9D",
  createdAt: "2025-01-01T12:00:00.000Z",
  updatedAt: "2025-01-01T12:00:01.000Z",
};

const PaymentsService: ServiceSchema<
  ServiceSettingSchema,
  Record<string, never>,
  PaymentsLocals
> = {
  name: "payments",
  mixins: [DatabaseMixin({ migrations: serviceMigrations.payments }), OutboxMixin()],
  settings: { rest: "/" },

  actions: {
    get: {
      rest: "GET /payments/:id",
      auth: "user",
      openapi: {
        summary: "A payment (by its id or its order's id): the owner's, or any for an admin",
        tags: ["payments"],
        response: paymentExample,
      },
      params: P.getPaymentParams,
      handler(ctx: Ctx<P.GetPaymentParams>): Promise<PaymentView> {
        return this.queries.view(ctx.params.id, ctx.meta.user!);
      },
    },

    /**
     * The provider's webhooks, from the gateway's raw-body route
     * (POST /api/v1/payments/webhooks/:provider): no `rest` here, so the
     * JSON API route never exposes it.
     */
    receiveWebhook: {
      auth: "public",
      params: P.receiveWebhookParams,
      handler(ctx: Ctx<P.ReceiveWebhookParams>): Promise<{ received: true }> {
        return this.webhooks.receive(ctx.params);
      },
    },

    // Internal actions (no REST route) for other services and operators.

    /** The receipt of an order's successful payment; 404 when none or not that user's. */
    receipt: {
      visibility: "public",
      params: P.receiptParams,
      handler(ctx: Ctx<P.ReceiptParams>): Promise<Receipt> {
        return this.queries.receipt(ctx.params.orderId, ctx.params.userId);
      },
    },

    /** Operators: the provider's circuit, the queues (failed webhook jobs included), payments by status. */
    status: {
      visibility: "public",
      params: { $$strict: true },
      async handler() {
        const [payments, callbacks, failedCallbacks, retries] = await Promise.all([
          this.repository.countByStatus(),
          this.webhookQueue.counts(),
          this.webhookQueue.failed(20),
          this.retryQueue.counts(),
        ]);
        return {
          provider: {
            name: this.setup.provider.name,
            url: this.setup.url,
            circuit: this.setup.provider.circuit,
          },
          payments,
          queues: {
            [WEBHOOK_QUEUE]: {
              ...callbacks,
              failedJobs: failedCallbacks.map((job) => ({
                id: job.id,
                type: job.name,
                attemptsMade: job.attemptsMade,
                failedReason: job.failedReason,
              })),
            },
            [CHARGE_RETRY_QUEUE]: retries,
          },
        };
      },
    },

    /** Operators (REPL `queues`): counts and recent failed jobs of both queues. */
    queueStatus: {
      visibility: "public",
      params: queueStatusParams,
      async handler(): Promise<QueueStatusAnswer> {
        const queues = [this.webhookQueue, this.retryQueue];
        return { service: this.name, queues: await Promise.all(queues.map(queueReport)) };
      },
    },

    /** Operators (REPL `queues retry`): failed jobs back to waiting; webhooks and charges are idempotent. */
    retryFailedJobs: {
      visibility: "public",
      params: retryFailedJobsParams,
      async handler(ctx: Ctx<RetryFailedJobsParams>): Promise<RetryFailedJobsAnswer> {
        const { queue, jobId } = ctx.params;
        const retried = await queueNamed<JobQueue<unknown>>(
          [this.webhookQueue, this.retryQueue],
          queue,
        ).retryFailed(jobId);
        return { service: this.name, queue, retried };
      },
    },
  },

  channels: {
    [Topics.PaymentsCommands]: durableChannel<unknown, This>(Topics.PaymentsCommands, {
      group: "payments",
      maxInFlight: COMMANDS_IN_FLIGHT,
      async handler(envelope, ctx) {
        try {
          return await handlePaymentCommand(this.charges, this.refunds, envelope, ctx);
        } catch (err) {
          // The channel retries it, then moves it to the DLQ; say why here.
          this.logger.error(
            `${envelope.type} ${envelope.id} (order ${envelope.aggregateId}) failed`,
            err,
          );
          throw err;
        }
      },
    }),
  },

  async started() {
    const infra = infrastructureOf(this.broker);
    const { config } = infra;
    this.setup = await setUpProvider(config, this.logger);
    const repository = new PaymentsRepository(this.db.sequelize);
    const common = { repository, database: this.db, outbox: this.outbox, log: this.logger };
    this.repository = repository;
    this.queries = new PaymentQueries(repository);
    this.refunds = new RefundUseCases({ ...common, provider: this.setup.provider });
    const refundIfRequested = (payment: Parameters<RefundUseCases["refundIfRequested"]>[0]) =>
      this.refunds.refundIfRequested(payment).then(() => undefined);

    const inFlight = new ChargesInFlight<ChargeResult>();
    this.retryQueue = infra.queues.queue<ChargeRetryJob>(CHARGE_RETRY_QUEUE);
    this.charges = new ChargeUseCases({
      ...common,
      provider: this.setup.provider,
      retries: new ChargeRetries(this.retryQueue, config.paymentChargeRetryDelayMs),
      refundIfRequested,
      inFlight,
    });
    this.webhookQueue = infra.queues.queue<WebhookJob>(WEBHOOK_QUEUE);
    this.webhooks = new WebhookUseCases({
      ...common,
      queue: this.webhookQueue,
      providerName: this.setup.provider.name,
      webhookSecret: this.setup.webhookSecret,
      jobAttempts: Math.max(1, config.paymentWebhookAttempts),
      jobBackoffMs: config.paymentWebhookBackoffMs,
      refundIfRequested,
      inFlight,
    });

    this.webhookQueue.process((job) => this.webhooks.process(job.data), {
      concurrency: WEBHOOK_CONCURRENCY,
    });
    this.retryQueue.process((job) => this.charges.retry(job.data), {
      concurrency: RETRY_CONCURRENCY,
    });
    this.refundSweeper = new PeriodicTask(
      async (shouldStop) => {
        const tried = await this.refunds.sweep(REFUND_SWEEP_AGE_MS, shouldStop);
        if (tried) this.logger.info(`Refund sweeper: retried ${tried} owed refund(s)`);
      },
      REFUND_SWEEP_INTERVAL_MS,
      (err) => this.logger.error("Refund sweep failed", err),
    );
    this.refundSweeper.start();
  },

  async stopped() {
    // Runs before the mixins' stopped hooks, so the database is still open.
    await this.refundSweeper?.stop();
    // Stop consuming only: the queues belong to the node, and a reloaded service consumes again.
    await Promise.allSettled([
      this.webhookQueue?.stopProcessing(),
      this.retryQueue?.stopProcessing(),
    ]);
    await this.setup?.sandbox?.close();
  },
};

// Brokers and tests take untyped schemas; the typed `this` above is for the handlers.
export default PaymentsService as unknown as ServiceSchema;
