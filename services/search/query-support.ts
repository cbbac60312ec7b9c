import {
  FACET_SIZES,
  Facets,
  PRICE_BUCKETS,
  PriceBucket,
  SearchQuery,
  SortOrder,
} from "./index-port";
import { terms } from "./text";

/**
 * Query rules both adapters share, so they answer the same question the same
 * way: the effective sort, how free text becomes terms, how attribute facets
 * are keyed, and the order of facet terms.
 */

/** The query's terms (folded words); empty when q has no word in it (then q is ignored). */
export function queryTerms(query: Pick<SearchQuery, "q">): string[] {
  return query.q ? terms(query.q).slice(0, MAX_QUERY_TERMS) : [];
}

/** More words than this in q are ignored (a query, not a document). */
export const MAX_QUERY_TERMS = 10;

/** relevance needs text; without any, and by default without q, the newest come first. */
export function effectiveSort(query: SearchQuery): SortOrder {
  const hasText = queryTerms(query).length > 0;
  if (!query.sort) return hasText ? "relevance" : "newest";
  return query.sort === "relevance" && !hasText ? "newest" : query.sort;
}

/**
 * Edits a query term may be away from a word and still match it, like
 * Elasticsearch's `fuzziness: AUTO`: none up to 2 characters, 1 up to 5, 2
 * beyond (≈ 0.2–0.33 of the length).
 */
export function fuzzyDistance(term: string): number {
  if (term.length < 3) return 0;
  return term.length <= 5 ? 1 : 2;
}

/** A term of at least this many characters also matches words it begins ("headph" → headphones). */
export const MIN_PREFIX_LENGTH = 3;

/** Attribute facets are counted over `key=value` pairs (split at the first "="). */
export function attributePair(key: string, value: string): string {
  return `${key}=${value}`;
}

export function splitAttributePair(pair: string): [string, string] {
  const at = pair.indexOf("=");
  return at < 0 ? [pair, ""] : [pair.slice(0, at), pair.slice(at + 1)];
}

export function attributePairs(attributes: Record<string, string>): string[] {
  return Object.entries(attributes).map(([k, v]) => attributePair(k, v));
}

/** Facet term order, as Elasticsearch's terms aggregation: count desc, then value asc. */
export function byCountThenValue(
  a: { value: string; count: number },
  b: { value: string; count: number },
): number {
  if (a.count !== b.count) return b.count - a.count;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

export function topTerms(counts: Map<string, number>, size: number) {
  return [...counts]
    .map(([value, count]) => ({ value, count }))
    .sort(byCountThenValue)
    .slice(0, size);
}

/** Groups `key=value` pair counts (already ordered) by key. */
export function groupAttributeFacets(
  pairs: { value: string; count: number }[],
): Facets["attributes"] {
  const out: Facets["attributes"] = {};
  for (const { value: pair, count } of pairs.slice(0, FACET_SIZES.attributePairs)) {
    const [key, value] = splitAttributePair(pair);
    (out[key] ??= []).push({ value, count });
  }
  return out;
}

/** Index of the PRICE_BUCKETS bucket holding `amount`. */
export function priceBucketOf(amount: number): number {
  for (let i = PRICE_BUCKETS.length - 1; i >= 0; i--) {
    if (amount >= PRICE_BUCKETS[i].from) return i;
  }
  return 0;
}

export function priceFacet(counts: readonly number[]): PriceBucket[] {
  return PRICE_BUCKETS.map((b, i) => ({ from: b.from, to: b.to, count: counts[i] ?? 0 }));
}
