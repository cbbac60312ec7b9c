import type { RelationalDatabase } from "../../lib/infra/relational";
import type { MessageOrigin } from "../../lib/messaging/outbox";

/** The part of the database the use cases need: running steps in one transaction. */
export type Transactional = Pick<RelationalDatabase, "transaction">;

/**
 * A command message being handled: its id is recorded in the inbox
 * (processed_messages) inside the transaction that records the command's
 * outcome, so a redelivered message finds it and changes nothing.
 */
export interface CommandReceipt {
  consumer: string;
  messageId: string;
}

export interface CallOptions {
  /** The Moleculer ctx (or message ctx): correlation and causation of what the outbox sends. */
  origin?: MessageOrigin;
  /**
   * Set when a command message (not an action) asks: the message is applied
   * once (inbox), and it is always answered on inventory.events — by the
   * event of the transition it caused, or by a reply carrying the stored or
   * refused outcome.
   */
  command?: CommandReceipt;
}

/** Epoch milliseconds; injectable so tests can move time. */
export type Clock = () => number;
