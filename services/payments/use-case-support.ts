import type { RelationalDatabase } from "../../lib/infra/relational";

/** The part of the database the use cases need: running steps in one transaction. */
export type Transactional = Pick<RelationalDatabase, "transaction">;

/** Epoch milliseconds; injectable so tests can move time. */
export type Clock = () => number;

/** Where the use cases write what an operator should know (the service's logger). */
export interface PaymentsLog {
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  error(message: string, ...args: unknown[]): void;
}
