/**
 * The catalog's cache entries, named in one place: the reads cache them
 * under these keys, and a stock change removes exactly the ones that show
 * availability (decision 25).
 */

import { isUuid } from "./domain/ids";

/** A product page's id or slug as the lookup reads it: trimmed, an id lower-cased. */
export function productLookupKey(idOrSlug: string): string {
  const key = idOrSlug.trim();
  return isUuid(key) ? key.toLowerCase() : key;
}

/**
 * The cache key of `<action>` (`catalog.getProduct`) for this id or slug: one
 * entry per product and spelling (its id, its slug). The key is made before
 * the params are validated: anything but a string gets one no product has (a
 * lookup key is trimmed), misses, and is refused.
 */
export function pageCacheKey(action: string, idOrSlug: unknown): string {
  return typeof idOrSlug === "string"
    ? `${action}:${productLookupKey(idOrSlug)}`
    : `${action}: (${typeof idOrSlug})`;
}

/** `GET /products/:idOrSlug`'s entry for this id or slug in the service's cache. */
export function productPageKey(service: string, idOrSlug: string): string {
  return pageCacheKey(`${service}.getProduct`, idOrSlug);
}

export interface ProductKeys {
  id: string;
  slug: string;
}

/**
 * What a change of these products' availability leaves stale: their pages
 * (exact keys) and every product list (a pattern: any list may hold them,
 * and `inStock` filters on them). Snapshots and `getMany` answers carry no
 * availability, and categories none either: they stay.
 */
export function availabilityEntries(
  service: string,
  products: readonly ProductKeys[],
): { keys: string[]; patterns: string[] } {
  return {
    keys: products.flatMap(({ id, slug }) => [
      productPageKey(service, id),
      productPageKey(service, slug),
    ]),
    patterns: [`${service}.listProducts:**`],
  };
}
