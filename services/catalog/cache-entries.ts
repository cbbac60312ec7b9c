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

/** `GET /products/:idOrSlug`, cached once per product and spelling (its id, its slug). */
export function productPageKey(service: string, idOrSlug: string): string {
  return `${service}.getProduct:${productLookupKey(idOrSlug)}`;
}

/** A product's snapshot, cached one product at a time (snapshot-cache.ts). */
export function snapshotKey(service: string, id: string): string {
  return `${service}.snapshot:${id}`;
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
