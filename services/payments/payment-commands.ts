import type { MessageEnvelope } from "../../lib/messaging/envelope";
import type { MessageOrigin } from "../../lib/messaging/outbox";
import { PaymentCommandTypes } from "../../lib/messaging/topics";
import type { ChargeResult, ChargeUseCases } from "./charge.use-cases";
import { InvalidCommandError, parseProcessPayment, parseRefundPayment } from "./domain/command";
import type { RefundResult, RefundUseCases } from "./refund.use-cases";

/**
 * The consumer of `payments.commands` (sent by the orders saga): each
 * command runs its use case. Business outcomes (declined, nothing to
 * refund) are recorded and answered on payments.events, never thrown; only a
 * message that cannot be understood throws, so an operator finds it in the
 * DLQ.
 */
export type CommandResult =
  | { command: "ProcessPayment"; result: ChargeResult }
  | { command: "RefundPayment"; result: RefundResult };

export async function handlePaymentCommand(
  charges: ChargeUseCases,
  refunds: RefundUseCases,
  envelope: MessageEnvelope<unknown>,
  origin: MessageOrigin,
): Promise<CommandResult> {
  switch (envelope.type) {
    case PaymentCommandTypes.ProcessPayment:
      return {
        command: "ProcessPayment",
        result: await charges.process(parseProcessPayment(envelope.payload), origin),
      };
    case PaymentCommandTypes.RefundPayment:
      return {
        command: "RefundPayment",
        result: await refunds.request(parseRefundPayment(envelope.payload), envelope.id, origin),
      };
    default:
      throw new InvalidCommandError(`unknown command type "${envelope.type}"`);
  }
}
