import type { RelationalDatabase } from "../../lib/infra/relational";

/** The part of the database the use cases need: running steps in one transaction. */
export type Transactional = Pick<RelationalDatabase, "transaction">;

/** Epoch milliseconds; injectable so tests can move time. */
export type Clock = () => number;
