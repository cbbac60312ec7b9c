import type { ReservationCommand, ReserveStockCommand } from "../../lib/contracts/catalog";
import type { MessageEnvelope } from "../../lib/messaging/envelope";
import type { MessageOrigin } from "../../lib/messaging/outbox";
import { InventoryCommandTypes } from "../../lib/messaging/topics";
import { ID_PATTERN } from "./domain/lines";
import type { ReservationResult, ReservationUseCases } from "./reservation.use-cases";

/**
 * The consumer of `inventory.commands`: ReserveStock, CommitStock,
 * ReleaseStock and ReturnStock run the same use cases as the actions, with the message's id
 * as an inbox receipt. Business outcomes — out of stock, a commit of a
 * released reservation, an unknown reservation — are recorded and answered
 * on inventory.events, never thrown (a throw would be retried and end in the
 * DLQ). Only a message that cannot be understood at all (unknown type, no
 * usable reservation id) throws, so an operator sees it in the DLQ.
 */
export const COMMANDS_CONSUMER = "inventory:inventory.commands";
const MAX_REASON = 200;

export class InvalidCommandError extends Error {
  override readonly name = "InvalidCommandError";
}

export function handleInventoryCommand(
  reservations: ReservationUseCases,
  envelope: MessageEnvelope<unknown>,
  origin: MessageOrigin,
): Promise<ReservationResult> {
  const opts = { origin, command: { consumer: COMMANDS_CONSUMER, messageId: envelope.id } };
  switch (envelope.type) {
    case InventoryCommandTypes.ReserveStock: {
      const command = envelope.payload as Partial<ReserveStockCommand>;
      const lines = Array.isArray(command.lines) ? command.lines : [];
      return reservations.reserve(reservationIdOf(command), lines, opts);
    }
    case InventoryCommandTypes.CommitStock:
      return reservations.commit(reservationIdOf(envelope.payload), opts);
    case InventoryCommandTypes.ReleaseStock:
      return reservations.release(
        reservationIdOf(envelope.payload),
        reasonOf(envelope.payload),
        opts,
      );
    case InventoryCommandTypes.ReturnStock:
      return reservations.returnStock(
        reservationIdOf(envelope.payload),
        reasonOf(envelope.payload) ?? null,
        opts,
      );
    default:
      throw new InvalidCommandError(`unknown command type "${envelope.type}"`);
  }
}

function reservationIdOf(payload: unknown): string {
  const id = (payload as Partial<ReservationCommand> | null)?.reservationId;
  if (typeof id !== "string" || !ID_PATTERN.test(id))
    throw new InvalidCommandError("the command has no valid reservationId");
  return id;
}

/** The command's reason, trimmed and bounded; undefined when it gives none. */
function reasonOf(payload: unknown): string | undefined {
  const reason = (payload as Partial<ReservationCommand> | null)?.reason;
  return typeof reason === "string" && reason.trim()
    ? reason.trim().slice(0, MAX_REASON)
    : undefined;
}
