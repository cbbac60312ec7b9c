import type { RelationalDatabase } from "../../lib/infra/relational";
import type { MessageOrigin } from "../../lib/messaging/outbox";

/** The part of the database the use cases need: running steps in one transaction. */
export type Transactional = Pick<RelationalDatabase, "transaction">;

/** The call a use case runs for (a Moleculer ctx); the outbox takes correlation ids from it. */
export type UseCaseOrigin = MessageOrigin;
