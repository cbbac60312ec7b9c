import { Errors } from "moleculer";
import type { Context } from "moleculer";
import type { ProductSnapshot } from "../../lib/contracts/catalog";
import type { Receipt } from "../../lib/contracts/orders";
import type { Directory, ProductInfo, Recipient } from "./notification-planner";

/**
 * The planner's lookups as calls to the services that own the data, made
 * with the message's context (so they carry its correlation id):
 * `users.get` for the recipient, `catalog.getMany` for product names,
 * `payments.receipt` for the receipt. A missing user means nobody to write
 * to; a catalog or payments service that is not deployed (or has no receipt)
 * means a plainer message, not none. Any other failure throws, and the
 * message is retried.
 */

/** What users.get answers (its public profile). */
interface UserProfile {
  id: string;
  email: string;
  name: string;
  phone: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** catalog.getMany takes at most this many ids. */
const MAX_PRODUCTS_PER_CALL = 500;

export function directoryFor(ctx: Context): Directory {
  return {
    async user(userId: string): Promise<Recipient | undefined> {
      // users.get only knows UUIDs; anything else names nobody.
      if (!UUID.test(userId)) return undefined;
      try {
        const user = await ctx.call<UserProfile, { id: string }>("users.get", { id: userId });
        return { userId: user.id, email: user.email, name: user.name, phone: user.phone };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },

    async products(ids: string[]): Promise<Map<string, ProductInfo> | undefined> {
      const wanted = [...new Set(ids.filter((id) => UUID.test(id)))];
      const found = new Map<string, ProductInfo>();
      try {
        for (let i = 0; i < wanted.length; i += MAX_PRODUCTS_PER_CALL) {
          const snapshots = await ctx.call<ProductSnapshot[], { ids: string[] }>(
            "catalog.getMany",
            { ids: wanted.slice(i, i + MAX_PRODUCTS_PER_CALL) },
          );
          for (const p of snapshots)
            found.set(p.id.toLowerCase(), { name: p.name, price: p.price });
        }
      } catch (err) {
        if (isServiceMissing(err)) return undefined;
        throw err;
      }
      // The catalog answers with its own spelling of the ids (lower case).
      const byRequestedId = new Map<string, ProductInfo>();
      for (const id of ids) {
        const product = found.get(id.toLowerCase());
        if (product) byRequestedId.set(id, product);
      }
      return byRequestedId;
    },

    async receipt(orderId: string, userId: string): Promise<Receipt | undefined> {
      try {
        return await ctx.call<Receipt, { orderId: string; userId: string }>("payments.receipt", {
          orderId,
          userId,
        });
      } catch (err) {
        if (isServiceMissing(err) || isNotFound(err)) return undefined;
        throw err;
      }
    },
  };
}

function isNotFound(err: unknown): boolean {
  const { type, code } = err as { type?: unknown; code?: unknown };
  return type === "NOT_FOUND" || code === 404;
}

/** The service is not deployed, or no node of it is up. */
function isServiceMissing(err: unknown): boolean {
  if (err instanceof Errors.ServiceNotFoundError || err instanceof Errors.ServiceNotAvailableError)
    return true;
  const { type } = err as { type?: unknown };
  return type === "SERVICE_NOT_FOUND" || type === "SERVICE_NOT_AVAILABLE";
}
