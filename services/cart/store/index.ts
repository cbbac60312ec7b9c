import type { Logger } from "moleculer";
import type { CartStore } from "./port";
import { MemoryCartStore } from "./memory-store";
import { MongooseCartStore } from "./mongoose-store";

export * from "./port";

export interface CartStoreOptions {
  /** MONGO_URL; unset means the in-process store. */
  mongoUrl?: string;
  logger: Logger;
}

/** The cart store the configuration asks for (ARCHITECTURE §2: MONGO_URL or embedded). */
export function createCartStore({ mongoUrl, logger }: CartStoreOptions): CartStore {
  return mongoUrl ? new MongooseCartStore(mongoUrl, logger) : new MemoryCartStore(logger);
}
