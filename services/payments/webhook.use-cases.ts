import { randomUUID } from "node:crypto";
import type { Transaction } from "sequelize";
import type { PaymentStatus } from "../../lib/contracts/orders";
import { AppError } from "../../lib/errors";
import type { JobQueue } from "../../lib/infra/queue/port";
import { processOnce } from "../../lib/messaging/inbox";
import { EventTypes } from "../../lib/messaging/topics";
import { verifySignature } from "../../lib/security/webhook-signature";
import { FailureCodes, pathTo, PaymentRecord, statusOfCharge } from "./domain/payment";
import { paymentEvent, PaymentsOutbox } from "./payment-events";
import { PaymentTransitions } from "./payment-transitions";
import type { PaymentChanges, PaymentsRepository } from "./payments-repository";
import type { ChargeResult } from "./charge.use-cases";
import type { ChargesInFlight } from "./charges-in-flight";
import type { ProviderCharge } from "./provider/port";
import { parseEvent, ProviderEventSummary } from "./provider/wire";
import type { Clock, PaymentsLog, Transactional } from "./use-case-support";

/**
 * Provider webhooks (ARCHITECTURE §6).
 *
 * receive: the gateway hands over the raw body and signature header; the
 * signature is checked (400 and nothing queued when it fails), the event is
 * parsed and queued on `payment-callbacks` with its event id as job id, so a
 * delivery the provider repeats is not even queued twice, and the provider
 * gets its 200 at once.
 *
 * process (the queue's worker): each event is applied once — its id is
 * recorded in the inbox in the transaction that applies it. Most events
 * report what the answer to our own charge request already recorded; one
 * read without a transaction sees that they can change nothing (see
 * unchangedBy) and they are let go without one. The event's
 * charge snapshot says where the payment should be; the state machine moves
 * it there if that is ahead of where it is (a refund reported before the
 * success applies both, in order) and ignores it otherwise (a stale or
 * out-of-order report). An event for a payment we do not know throws, so
 * the queue retries it with backoff and finally keeps it as a failed job.
 */
export const WEBHOOK_QUEUE = "payment-callbacks";
export const WEBHOOKS_CONSUMER = "payments.webhooks";
/** The header carrying the signature (the sandbox's name for Stripe-Signature). */
export const SIGNATURE_HEADER = "Sandbox-Signature";

export interface WebhookJob {
  provider: string;
  event: ProviderEventSummary;
}

export interface IncomingWebhook {
  provider: string;
  rawBody: string;
  signature?: string;
}

export type WebhookOutcome =
  | { kind: "changed"; payment: PaymentRecord }
  | { kind: "pending" | "repeat" | "stale"; payment: PaymentRecord }
  | { kind: "duplicate" | "ignored" };

export class UnknownPaymentError extends Error {
  override readonly name = "UnknownPaymentError";
}

/** BullMQ's rules for custom job ids (no ":", not an integer), and a sane length. */
const EVENT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface WebhookUseCasesDeps {
  repository: PaymentsRepository;
  database: Transactional;
  outbox: PaymentsOutbox;
  queue: JobQueue<WebhookJob>;
  /** The provider whose webhooks are accepted, and the secret that signs them. */
  providerName: string;
  webhookSecret: string;
  jobAttempts: number;
  jobBackoffMs: number;
  refundIfRequested: (payment: PaymentRecord) => Promise<unknown>;
  /** Charges this node is recording: a webhook about one waits for it first. */
  inFlight?: ChargesInFlight<ChargeResult>;
  log: PaymentsLog;
  now?: Clock;
}

/**
 * How long a webhook waits for this node to record the answer to the same
 * charge: enough for an answer on its way in, short enough that the webhook
 * of a charge whose answer is slow still settles the payment first (so a
 * redelivered ProcessPayment finds it settled instead of asking again).
 */
const IN_FLIGHT_WAIT_MS = 300;

export class WebhookUseCases {
  private readonly transitions: PaymentTransitions;
  private readonly now: Clock;

  constructor(private readonly deps: WebhookUseCasesDeps) {
    this.now = deps.now ?? Date.now;
    this.transitions = new PaymentTransitions(deps.repository, deps.outbox, deps.log, this.now);
  }

  async receive(input: IncomingWebhook): Promise<{ received: true }> {
    if (input.provider !== this.deps.providerName) throw AppError.notFound("Payment provider");
    const check = verifySignature(input.rawBody, input.signature, this.deps.webhookSecret);
    if (!check.valid) {
      this.deps.log.warn(`Webhook from ${input.provider} refused: signature ${check.reason}`);
      throw AppError.validation("Webhook signature is invalid (invalid_signature)", [
        { field: SIGNATURE_HEADER, message: `invalid_signature: ${check.reason}` },
      ]);
    }
    let event: ProviderEventSummary;
    try {
      event = parseEvent(JSON.parse(input.rawBody));
    } catch (err) {
      throw AppError.validation("Webhook body is not a provider event", [
        { field: "body", message: (err as Error).message },
      ]);
    }
    if (!EVENT_ID_PATTERN.test(event.id))
      throw AppError.validation("Webhook event id is invalid", [
        { field: "id", message: "must be 1–64 letters, digits, _ or -" },
      ]);
    await this.deps.queue.add(
      event.type,
      { provider: input.provider, event },
      {
        jobId: `${input.provider}-${event.id}`,
        attempts: this.deps.jobAttempts,
        backoffMs: this.deps.jobBackoffMs,
      },
    );
    return { received: true };
  }

  async process(job: WebhookJob): Promise<WebhookOutcome> {
    const { event } = job;
    const charge = event.charge;
    const recorded = charge?.orderId
      ? await this.deps.inFlight?.settled(charge.orderId, IN_FLIGHT_WAIT_MS)
      : undefined;
    const outcome =
      (charge && (await this.unchangedBy(charge, recorded?.payment))) ??
      (await this.deps.database.transaction(async (tx): Promise<WebhookOutcome> => {
        if (!(await processOnce(tx, WEBHOOKS_CONSUMER, event.id))) return { kind: "duplicate" };
        if (!charge) return { kind: "ignored" };
        return this.apply(tx, event, charge);
      }));
    if (outcome.kind === "stale")
      this.deps.log.info(
        `Webhook ${event.id} (${event.type}) is stale for payment ${outcome.payment.id} (${outcome.payment.status}); ignored`,
      );
    if (outcome.kind === "changed" && outcome.payment.status === "SUCCEEDED")
      await this.deps.refundIfRequested(outcome.payment);
    return outcome;
  }

  /**
   * The outcome of a report that can change nothing whenever it is applied,
   * or null when it may change something. That holds for a payment settled
   * with another charge (its charge id, once set, never changes) and for one
   * already at or past the reported status with this charge (statuses only
   * move forward: what is behind stays behind). So an unlocked read is
   * enough, and a redelivery is as harmless as the first delivery.
   *
   * For the same reasons the payment as this node's charge just committed it
   * (`recorded`) is as good as that read, when it has a charge id: what it
   * shows settled can only have moved further since.
   */
  private async unchangedBy(
    charge: ProviderCharge,
    recorded?: PaymentRecord,
  ): Promise<WebhookOutcome | null> {
    if (!charge.orderId) return null;
    const payment = recorded?.providerChargeId
      ? recorded
      : await this.deps.repository.findByOrderId(charge.orderId);
    if (!payment?.providerChargeId) return null;
    if (payment.providerChargeId !== charge.id) return { kind: "stale", payment };
    const target = statusOfCharge(charge);
    if (target === null) return null;
    const steps = pathTo(payment.status, target);
    if (steps === null) return { kind: "stale", payment };
    return steps.length ? null : { kind: "repeat", payment };
  }

  private async apply(
    tx: Transaction,
    event: ProviderEventSummary,
    charge: ProviderCharge,
  ): Promise<WebhookOutcome> {
    const { repository, outbox } = this.deps;
    const found =
      (charge.orderId ? await repository.findByOrderId(charge.orderId, tx) : null) ??
      (await repository.findByChargeId(charge.id, tx));
    if (!found)
      throw new UnknownPaymentError(
        `Webhook ${event.id} (${event.type}): no payment for charge ${charge.id} (order ${charge.orderId ?? "unknown"})`,
      );
    let payment = (await repository.findById(found.id, tx, true))!;
    // A report about another charge than the one this payment settled with.
    if (payment.providerChargeId && payment.providerChargeId !== charge.id)
      return { kind: "stale", payment };
    const target = statusOfCharge(charge);
    const now = this.now();
    if (target === null) {
      const known = { providerChargeId: charge.id, card: charge.card ?? null };
      if (!(await repository.recordPendingCharge(tx, payment.id, known, now)))
        return { kind: "repeat", payment };
      const pending = { ...payment, providerChargeId: charge.id };
      await outbox.enqueue(tx, paymentEvent(EventTypes.PaymentPending, pending));
      return { kind: "pending", payment: pending };
    }
    const steps = pathTo(payment.status, target);
    if (steps === null) return { kind: "stale", payment };
    if (!steps.length) return { kind: "repeat", payment };
    for (const step of steps) {
      const extra =
        step === "REFUNDED" ? { refundId: await this.recordRefund(tx, payment, now) } : {};
      const applied = await this.transitions.apply(
        tx,
        payment,
        step,
        changesFor(step, charge),
        undefined,
        extra,
      );
      payment = applied.payment;
    }
    return { kind: "changed", payment };
  }

  /** The provider reports a refund (ours, or one made at the provider): recorded as done. */
  private async recordRefund(
    tx: Transaction,
    payment: PaymentRecord,
    now: number,
  ): Promise<string> {
    const refund = await this.deps.repository.ensureRefund(
      tx,
      {
        id: randomUUID(),
        paymentId: payment.id,
        providerRefundId: null,
        amount: payment.amount.amount,
        currency: payment.amount.currency,
        status: "PENDING",
        reason: payment.refundReason ?? "refunded at the provider",
      },
      now,
    );
    await this.deps.repository.completeRefund(tx, payment.id, null, now);
    return refund.id;
  }
}

function changesFor(step: PaymentStatus, charge: ProviderCharge): PaymentChanges {
  const known = { providerChargeId: charge.id, card: charge.card ?? null };
  if (step === "SUCCEEDED") return known;
  if (step === "FAILED")
    return {
      ...known,
      failureCode: FailureCodes.Declined,
      failureMessage: charge.failureMessage ?? "The payment failed",
    };
  return {};
}
