import type { OutboxMessageInput } from "../../lib/messaging/outbox";
import { EventTypes, Topics } from "../../lib/messaging/topics";
import type { OutboxHandle } from "../../mixins/outbox.mixin";
import type { UserRecord } from "./domain/user";

/**
 * Messages the users service publishes on `user.events`, always through the
 * outbox in the transaction that made the change.
 */
export type UsersOutbox = Pick<OutboxHandle, "enqueue">;

export function userRegistered(user: UserRecord): OutboxMessageInput {
  return {
    topic: Topics.UserEvents,
    type: EventTypes.UserRegistered,
    aggregateId: user.id,
    payload: { userId: user.id, email: user.email, name: user.name },
  };
}

/**
 * Carries the reset link sealed for the one notification that sends it: the
 * outbox row and the channel never hold the token in the clear.
 */
export function passwordResetRequested(
  user: UserRecord,
  sealedResetLink: string,
  expiresAt: Date,
): OutboxMessageInput {
  return {
    topic: Topics.UserEvents,
    type: EventTypes.PasswordResetRequested,
    aggregateId: user.id,
    payload: {
      userId: user.id,
      email: user.email,
      name: user.name,
      sealedResetLink,
      expiresAt: expiresAt.toISOString(),
    },
  };
}
