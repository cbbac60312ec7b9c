import { randomUUID } from "node:crypto";
import type { ProcessPaymentCommand } from "../../lib/contracts/orders";
import type { MessageOrigin } from "../../lib/messaging/outbox";
import { EventTypes } from "../../lib/messaging/topics";
import {
  currentRequestContext,
  runWithRequestContext,
} from "../../lib/observability/request-context";
import { ChargeRetries, ChargeRetryJob, MAX_CHARGE_TRIES } from "./charge-retries";
import type { ChargesInFlight } from "./charges-in-flight";
import { chargeSource, METHOD_PROBLEM_MESSAGES, methodProblem } from "./domain/command";
import { chargeOutcomeUnknown, FailureCodes, PaymentRecord } from "./domain/payment";
import { paymentEvent, PaymentsOutbox } from "./payment-events";
import { PaymentTransitions } from "./payment-transitions";
import type { PaymentChanges, PaymentsRepository } from "./payments-repository";
import type {
  ChargeRequest,
  PaymentProvider,
  ProviderCharge,
  ProviderResult,
} from "./provider/port";
import type { Clock, PaymentsLog, Transactional } from "./use-case-support";

/**
 * ProcessPayment: charge an order once.
 *
 *  1. The order's payment (PENDING) is created unless it has one — the
 *     unique order id is the guard, so a redelivered command finds it. A
 *     payment to charge is one INSERT; cash on delivery, settled right there
 *     (AWAITING_COLLECTION), and a method that can never be charged (card
 *     data, no token: FAILED) are created in one transaction with their
 *     event.
 *  2. The provider is called outside any transaction, with the payment id as
 *     idempotency key. Only a payment whose charge outcome is still unknown
 *     is (re)sent, always with that same key.
 *  3. One transaction records the provider calls and the outcome, with its
 *     event in the outbox. An unknown outcome is never reported as a
 *     failure: the payment stays PENDING and a retry job sends the same
 *     charge again later (charge-retries.ts).
 *
 * A success for a payment whose order was cancelled meanwhile (refund
 * requested) is refunded at once.
 */
export type ChargeResult =
  | { kind: "settled"; payment: PaymentRecord }
  | { kind: "pending"; payment: PaymentRecord }
  | { kind: "unknown"; payment: PaymentRecord; tries: number }
  | { kind: "unchanged"; payment: PaymentRecord };

export interface ChargeUseCasesDeps {
  repository: PaymentsRepository;
  database: Transactional;
  outbox: PaymentsOutbox;
  provider: PaymentProvider;
  retries: ChargeRetries;
  /** Refunds a success that came after the refund was asked for. */
  refundIfRequested: (payment: PaymentRecord, origin?: MessageOrigin) => Promise<void>;
  /** Where webhooks for a charge this node is recording wait for it. */
  inFlight?: ChargesInFlight<ChargeResult>;
  log: PaymentsLog;
  now?: Clock;
}

export class ChargeUseCases {
  private readonly transitions: PaymentTransitions;
  private readonly now: Clock;

  constructor(private readonly deps: ChargeUseCasesDeps) {
    this.now = deps.now ?? Date.now;
    this.transitions = new PaymentTransitions(deps.repository, deps.outbox, deps.log, this.now);
  }

  async process(command: ProcessPaymentCommand, origin?: MessageOrigin): Promise<ChargeResult> {
    const { payment, created } = await this.recordPayment(command, origin);
    if (!created && payment.amount.amount !== command.amount.amount)
      this.deps.log.warn(
        `ProcessPayment for order ${command.orderId} repeats with another amount; the recorded payment ${payment.id} stands`,
      );
    if (!chargeOutcomeUnknown(payment))
      return created ? { kind: "settled", payment } : { kind: "unchanged", payment };
    // New, or sent before without an answer: (re)send it, with the same key.
    return this.charge(payment, chargeRequestFor(payment, chargeSource(command.method)), origin);
  }

  /** A retry job: sends the same charge again if its outcome is still unknown. */
  async retry(job: ChargeRetryJob): Promise<ChargeResult | null> {
    const payment = await this.deps.repository.findById(job.paymentId);
    // Settled meanwhile, or a later try has been scheduled by then: nothing to do.
    if (!payment || !chargeOutcomeUnknown(payment) || payment.chargeTries !== job.try) return null;
    return runWithRequestContext({ correlationId: job.correlationId, sagaId: job.sagaId }, () =>
      this.charge(payment, job.request),
    );
  }

  private async recordPayment(
    command: ProcessPaymentCommand,
    origin?: MessageOrigin,
  ): Promise<{ payment: PaymentRecord; created: boolean }> {
    const { repository, outbox } = this.deps;
    const payment = newPayment(command, this.now());
    if (payment.status === "PENDING") {
      // No event goes with it, so no transaction: a redelivery's INSERT meets the committed row.
      if (await repository.insertPayment(payment)) return { payment, created: true };
      return { payment: (await repository.findByOrderId(command.orderId))!, created: false };
    }
    return this.deps.database.transaction(async (tx) => {
      const existing = await repository.findByOrderId(command.orderId, tx);
      if (existing) return { payment: existing, created: false };
      if (!(await repository.insertPayment(payment, tx)))
        return {
          payment: (await repository.findByOrderId(command.orderId, tx, true))!,
          created: false,
        };
      if (payment.status === "FAILED") {
        this.deps.log.warn(
          `Payment for order ${payment.orderId} refused: ${payment.failureMessage}`,
        );
        await outbox.enqueue(tx, paymentEvent(EventTypes.PaymentFailed, payment), origin);
      }
      if (payment.status === "AWAITING_COLLECTION")
        await outbox.enqueue(tx, paymentEvent(EventTypes.PaymentSucceeded, payment), origin);
      return { payment, created: true };
    });
  }

  private async charge(
    payment: PaymentRecord,
    request: ChargeRequest,
    origin?: MessageOrigin,
  ): Promise<ChargeResult> {
    const send = async () =>
      this.settle(payment.id, await this.deps.provider.charge(request), origin);
    const { inFlight } = this.deps;
    const outcome = await (inFlight ? inFlight.track(payment.orderId, send) : send());
    if (outcome.kind === "unknown") await this.scheduleRetry(outcome, request, origin);
    if (outcome.kind === "settled" && outcome.payment.status === "SUCCEEDED")
      await this.deps.refundIfRequested(outcome.payment, origin);
    return outcome;
  }

  /** Records the provider's answer and what it means for the payment, in one transaction. */
  private settle(
    paymentId: string,
    result: ProviderResult<ProviderCharge>,
    origin?: MessageOrigin,
  ): Promise<ChargeResult> {
    const { repository, outbox } = this.deps;
    return this.deps.database.transaction(async (tx) => {
      const payment = (await repository.findById(paymentId, tx, true))!;
      const now = this.now();
      await repository.recordAttempts(tx, paymentId, "charge", result.attempts, now);
      const apply = async (to: "SUCCEEDED" | "FAILED", changes: PaymentChanges) => {
        const applied = await this.transitions.apply(tx, payment, to, changes, origin);
        return applied.kind === "changed"
          ? ({ kind: "settled", payment: applied.payment } as const)
          : ({ kind: "unchanged", payment: applied.payment } as const);
      };
      switch (result.kind) {
        case "ok": {
          const charge = result.value;
          const known = { providerChargeId: charge.id, card: charge.card ?? null };
          if (charge.status === "succeeded") return apply("SUCCEEDED", known);
          if (charge.status === "failed")
            return apply("FAILED", {
              ...known,
              failureCode: FailureCodes.Declined,
              failureMessage: charge.failureMessage ?? "The payment failed",
            });
          // Pending: the provider's webhook will settle it.
          if (await repository.recordPendingCharge(tx, paymentId, known, now)) {
            const pending = {
              ...payment,
              providerChargeId: charge.id,
              card: charge.card ?? payment.card,
            };
            await outbox.enqueue(tx, paymentEvent(EventTypes.PaymentPending, pending), origin);
            return { kind: "pending", payment: pending };
          }
          return { kind: "unchanged", payment };
        }
        case "declined":
          return apply("FAILED", {
            providerChargeId: result.chargeId ?? null,
            failureCode: FailureCodes.Declined,
            failureMessage: result.message,
          });
        case "rejected":
          // Not its message: a provider may quote the request, token included.
          this.deps.log.error(
            `Payment ${paymentId}: the provider refused the charge (HTTP ${result.status}, ${result.code ?? "no code"})`,
          );
          return apply("FAILED", {
            failureCode: FailureCodes.ProviderError,
            failureMessage: "The payment provider refused the payment",
          });
        case "unknown": {
          if (payment.status !== "PENDING" || payment.providerChargeId !== null)
            return { kind: "unchanged", payment };
          const tries = await repository.countUnknownCharge(tx, paymentId, now);
          return { kind: "unknown", payment: { ...payment, chargeTries: tries }, tries };
        }
      }
    });
  }

  private async scheduleRetry(
    outcome: { payment: PaymentRecord; tries: number },
    request: ChargeRequest,
    origin?: MessageOrigin,
  ): Promise<void> {
    const { payment, tries } = outcome;
    if (tries > MAX_CHARGE_TRIES) {
      this.deps.log.error(
        `Payment ${payment.id} (order ${payment.orderId}): the charge's outcome is still unknown after ${tries - 1} retries; left PENDING for an operator to check with the provider`,
      );
      return;
    }
    const context = currentRequestContext();
    const meta = (origin?.meta ?? {}) as { correlationId?: string; sagaId?: string };
    this.deps.log.warn(
      `Payment ${payment.id} (order ${payment.orderId}): charge outcome unknown; retry ${tries} scheduled`,
    );
    await this.deps.retries.schedule({
      paymentId: payment.id,
      try: tries,
      request,
      correlationId: meta.correlationId ?? context?.correlationId,
      sagaId: meta.sagaId ?? context?.sagaId,
    });
  }
}

function newPayment(command: ProcessPaymentCommand, now: number): PaymentRecord {
  const id = randomUUID();
  const problem = methodProblem(command.method);
  const cash = command.method.type === "cash_on_delivery";
  return {
    id,
    orderId: command.orderId,
    userId: command.userId,
    method: command.method.type,
    status: problem ? "FAILED" : cash ? "AWAITING_COLLECTION" : "PENDING",
    amount: command.amount,
    lines: command.lines,
    providerChargeId: null,
    idempotencyKey: id,
    failureCode: problem ? FailureCodes.Declined : null,
    failureMessage: problem ? METHOD_PROBLEM_MESSAGES[problem] : null,
    card: null,
    refundRequested: false,
    refundReason: null,
    chargeTries: 0,
    createdAt: now,
    updatedAt: now,
  };
}

function chargeRequestFor(payment: PaymentRecord, source: string): ChargeRequest {
  return {
    idempotencyKey: payment.idempotencyKey,
    amount: payment.amount.amount,
    currency: payment.amount.currency,
    source,
    orderId: payment.orderId,
  };
}
