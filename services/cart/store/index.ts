import type { Logger } from "moleculer";
import { MemoryCartStore } from "./memory-store";
import type { CartStore } from "./port";

export * from "./port";

export interface CartStoreOptions {
  /** MONGO_URL; unset means the in-process store. */
  mongoUrl?: string;
  logger: Logger;
}

/** The cart store the configuration asks for (ARCHITECTURE §2: MONGO_URL or embedded). */
export function createCartStore({ mongoUrl, logger }: CartStoreOptions): CartStore {
  if (!mongoUrl) return new MemoryCartStore(logger);
  // Loaded only when used: Mongoose and the MongoDB driver are a large part of a node's memory.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { MongooseCartStore } = require("./mongoose-store") as typeof import("./mongoose-store");
  return new MongooseCartStore(mongoUrl, logger);
}
