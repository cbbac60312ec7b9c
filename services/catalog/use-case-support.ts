import type { CategoryTree } from "./domain/category-tree";
import type { RelationalDatabase } from "../../lib/infra/relational";
import type { MessageOrigin } from "../../lib/messaging/outbox";
import { AppError } from "../../lib/errors";
import { uniqueViolation } from "./catalog-repository";
import type { CatalogRepository } from "./catalog-repository";
import type { CatalogOutbox } from "./catalog-events";

/** The part of the database the use cases need: running steps in one transaction. */
export type Transactional = Pick<RelationalDatabase, "transaction">;

/** The call a use case runs for (a Moleculer ctx); the outbox takes correlation ids from it. */
export type UseCaseOrigin = MessageOrigin;

export interface CatalogDependencies {
  repository: CatalogRepository;
  database: Transactional;
  outbox: CatalogOutbox;
  /** Called after every committed change that readers must see (cache invalidation). */
  changed: () => Promise<void>;
  /** Called after a stock level changed what readers see of a product; they may see it up to a second late. */
  availabilityChanged: (productId: string) => void;
  /** The category tree for reads outside a transaction (shared, invalidated on change). */
  readTree?: () => Promise<CategoryTree>;
  clock?: () => Date;
}

/** Attempts at a generated slug when concurrent writers keep taking the one chosen. */
export const SLUG_ATTEMPTS = 5;

/**
 * Runs `attempt` again when it failed on the slug unique key and the slug was
 * generated (another writer took it between our read and our insert); maps
 * any other unique violation to a 409 naming the field.
 */
export async function withSlugRetry<T>(
  what: string,
  slugGenerated: boolean,
  attempt: () => Promise<T>,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const field = uniqueViolation(err);
      if (!field) throw err;
      if (field === "slug" && slugGenerated && n < SLUG_ATTEMPTS) continue;
      throw duplicate(what, field);
    }
  }
}

export function duplicate(what: string, field: string): AppError {
  return AppError.conflict(`A ${what} with this ${field} already exists`, [
    { field, message: "Already taken" },
  ]);
}
