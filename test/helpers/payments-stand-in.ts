import type { ServiceBroker, ServiceSchema } from "moleculer";
import type {
  PaymentEventPayload,
  ProcessPaymentCommand,
  Receipt,
  RefundPaymentCommand,
} from "../../lib/contracts/orders";
import { AppError } from "../../lib/errors";
import { durableChannel, IncomingHeaders } from "../../lib/messaging/channel";
import { createEnvelope, headersFor, MessageEnvelope } from "../../lib/messaging/envelope";
import { EventTypes, PaymentCommandTypes, Topics } from "../../lib/messaging/topics";
import { sendEnvelope } from "../../mixins/outbox.mixin";

/**
 * A scripted stand-in for the payments service, for suites that exercise the
 * orders saga without the real one: a service named "payments" that consumes
 * `payments.commands` (group "payments") and answers on `payments.events`
 * with envelopes and headers as the payments outbox would send them. What it
 * answers to a ProcessPayment is chosen by the test through the method:
 *
 *  - card `tok_visa` (any token not below): PaymentSucceeded (SUCCEEDED)
 *  - card `tok_chargeDeclined`: PaymentFailed (DECLINED)
 *  - card `tok_silent`: no answer yet; the test answers later with `answer()`
 *  - cash_on_delivery: PaymentSucceeded (AWAITING_COLLECTION)
 *  - bank_transfer: PaymentPending; the test confirms later with `answer()`
 *
 * A RefundPayment for an order it charged answers PaymentRefunded (once).
 * Its `receipt` action answers for orders it charged, like payments.receipt.
 */
export const DECLINING_TOKEN = "tok_chargeDeclined";
export const SILENT_TOKEN = "tok_silent";

export interface ReceivedCommand<P> {
  envelope: MessageEnvelope<P>;
  headers: IncomingHeaders;
}

export type PaymentOutcome = "succeed" | "decline" | "pending";

export interface PaymentsStandIn {
  service: ServiceSchema;
  /** ProcessPayment commands received, in order. */
  charges: ReceivedCommand<ProcessPaymentCommand>[];
  /** RefundPayment commands received, in order. */
  refunds: ReceivedCommand<RefundPaymentCommand>[];
  chargesFor(orderId: string): ReceivedCommand<ProcessPaymentCommand>[];
  refundsFor(orderId: string): ReceivedCommand<RefundPaymentCommand>[];
  /** Answers the order's (last) ProcessPayment now, as a late provider answer would; returns what it sent. */
  answer(orderId: string, outcome: PaymentOutcome): Promise<MessageEnvelope<PaymentEventPayload>>;
  /** Sends a message it sent before once more (a redelivery). */
  redeliver(envelope: MessageEnvelope<PaymentEventPayload>): Promise<void>;
}

export function paymentsStandIn(): PaymentsStandIn {
  let broker: ServiceBroker | undefined;
  const charges: ReceivedCommand<ProcessPaymentCommand>[] = [];
  const refunds: ReceivedCommand<RefundPaymentCommand>[] = [];
  const captured = new Map<string, Receipt>();
  const refunded = new Set<string>();
  /** The command each sent message answered, to redeliver it with the same headers. */
  const sent = new Map<string, ReceivedCommand<unknown>>();

  async function publish(
    command: ReceivedCommand<unknown>,
    type: string,
    payload: PaymentEventPayload,
  ): Promise<MessageEnvelope<PaymentEventPayload>> {
    const envelope = createEnvelope({ type, aggregateId: payload.orderId, payload });
    sent.set(envelope.id, command);
    await sendMessage(envelope, command);
    return envelope;
  }

  function sendMessage(envelope: MessageEnvelope, command: ReceivedCommand<unknown>) {
    const headers = headersFor(envelope, {
      source: "payments",
      correlationId: command.headers.correlationId,
      causationId: command.envelope.id,
      sagaId: command.headers.sagaId,
    });
    return sendEnvelope(
      broker!,
      { topic: Topics.PaymentsEvents, aggregateId: envelope.aggregateId, envelope, headers },
      "payments",
    );
  }

  function paymentOf(command: ProcessPaymentCommand, status: PaymentEventPayload["status"]) {
    const payload: PaymentEventPayload = {
      orderId: command.orderId,
      paymentId: `pay_${command.orderId}`,
      userId: command.userId,
      status,
      amount: command.amount,
      method: command.method.type,
    };
    return payload;
  }

  async function settle(
    received: ReceivedCommand<ProcessPaymentCommand>,
    outcome: PaymentOutcome,
  ): Promise<MessageEnvelope<PaymentEventPayload>> {
    const command = received.envelope.payload;
    if (outcome === "pending")
      return publish(received, EventTypes.PaymentPending, paymentOf(command, "PENDING"));
    if (outcome === "decline")
      return publish(received, EventTypes.PaymentFailed, {
        ...paymentOf(command, "FAILED"),
        failureCode: "DECLINED",
        failureMessage: "Your card was declined.",
      });
    const cash = command.method.type === "cash_on_delivery";
    const payment = {
      ...paymentOf(command, cash ? "AWAITING_COLLECTION" : "SUCCEEDED"),
      ...(cash ? {} : { providerReference: `ch_${command.orderId}` }),
    };
    captured.set(command.orderId, {
      receiptNumber: `R-${command.orderId.slice(0, 8)}`,
      orderId: command.orderId,
      paymentId: payment.paymentId,
      userId: command.userId,
      lines: command.lines,
      total: command.amount,
      method: command.method.type,
      providerReference: payment.providerReference ?? null,
      paidAt: new Date().toISOString(),
    });
    return publish(received, EventTypes.PaymentSucceeded, payment);
  }

  function scriptedOutcome(command: ProcessPaymentCommand): PaymentOutcome | null {
    if (command.method.type === "cash_on_delivery") return "succeed";
    if (command.method.type === "bank_transfer") return "pending";
    if (command.method.token === SILENT_TOKEN) return null;
    return command.method.token === DECLINING_TOKEN ? "decline" : "succeed";
  }

  const service: ServiceSchema = {
    name: "payments",
    created() {
      broker = this.broker;
    },
    actions: {
      receipt: {
        params: { orderId: "string", userId: "string" },
        handler(ctx: { params: { orderId: string; userId: string } }): Receipt {
          const receipt = captured.get(ctx.params.orderId);
          if (!receipt || receipt.userId !== ctx.params.userId) throw AppError.notFound("Receipt");
          return receipt;
        },
      },
    },
    channels: {
      [Topics.PaymentsCommands]: durableChannel(Topics.PaymentsCommands, {
        group: "payments",
        async handler(envelope, _ctx, headers) {
          if (envelope.type === PaymentCommandTypes.ProcessPayment) {
            const received = { envelope, headers } as ReceivedCommand<ProcessPaymentCommand>;
            charges.push(received);
            const outcome = scriptedOutcome(received.envelope.payload);
            if (outcome) await settle(received, outcome);
          } else if (envelope.type === PaymentCommandTypes.RefundPayment) {
            const received = { envelope, headers } as ReceivedCommand<RefundPaymentCommand>;
            refunds.push(received);
            const { orderId } = received.envelope.payload;
            const receipt = captured.get(orderId);
            if (receipt && !refunded.has(orderId)) {
              refunded.add(orderId);
              await publish(received, EventTypes.PaymentRefunded, {
                orderId,
                paymentId: receipt.paymentId,
                userId: receipt.userId,
                status: "REFUNDED",
                amount: receipt.total,
                method: receipt.method,
                refundId: `re_${orderId}`,
              });
            }
          }
        },
      }),
    },
  };

  const chargesFor = (orderId: string) =>
    charges.filter((c) => c.envelope.payload.orderId === orderId);

  return {
    service,
    charges,
    refunds,
    chargesFor,
    refundsFor: (orderId) => refunds.filter((r) => r.envelope.payload.orderId === orderId),
    answer(orderId, outcome) {
      const received = chargesFor(orderId).at(-1);
      if (!received) throw new Error(`no ProcessPayment received for order ${orderId}`);
      return settle(received, outcome);
    },
    async redeliver(envelope) {
      const command = sent.get(envelope.id);
      if (!command) throw new Error(`message ${envelope.id} was not sent by the stand-in`);
      await sendMessage(envelope, command);
    },
  };
}
