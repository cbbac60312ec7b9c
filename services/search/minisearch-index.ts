import MiniSearch, { Query } from "minisearch";
import type { StockLevel } from "../../lib/contracts/catalog";
import {
  FACET_SIZES,
  ProductRemoval,
  SearchDocument,
  SearchHit,
  SearchIndex,
  SearchQuery,
  SearchResult,
  SortOrder,
  Suggestion,
  WriteOutcome,
} from "./index-port";
import {
  attributePairs,
  effectiveSort,
  fuzzyDistance,
  groupAttributeFacets,
  MIN_PREFIX_LENGTH,
  priceBucketOf,
  priceFacet,
  queryTerms,
  topTerms,
} from "./query-support";
import { fold, highlight, highlightFragment, term, words } from "./text";

/**
 * The embedded search index: MiniSearch (an inverted index with BM25+,
 * prefix and fuzzy matching) for the text, and a Map of the documents for
 * filters, facets and sorting. In memory only: the search service rebuilds it
 * from the catalog at start. Fields and boosts mirror the Elasticsearch
 * adapter's: name ×3, brand ×2, category name ×1.5, description and attribute
 * values ×1.
 */

const BOOST = { name: 3, brand: 2, categoryName: 1.5, description: 1, attributeText: 1 };
const FIELDS = Object.keys(BOOST);

interface IndexedFields {
  id: string;
  name: string;
  brand: string;
  categoryName: string;
  description: string;
  attributeText: string;
}

/** A searchable product with what filtering, sorting and facets need precomputed. */
interface Entry {
  doc: SearchDocument;
  available: number;
  sortName: string;
  createdMs: number;
  pairs: string[];
  priceBucket: number;
}

interface HeldStock {
  available: number;
  version: number;
}

/** A match; `terms` are the document words a text query matched (for highlighting). */
type Scored = { entry: Entry; score: number; terms?: string[] };

export class MiniSearchIndex implements SearchIndex {
  readonly adapter = "minisearch";
  private engine = createEngine();
  private readonly entries = new Map<string, Entry>();
  /** Highest product version seen per id, tombstones included. */
  private readonly productVersions = new Map<string, number>();
  /** Latest stock per product id, also for products not indexed (yet). */
  private readonly stock = new Map<string, HeldStock>();
  /** Every entry in each sort order, for queries without text; dropped on product changes. */
  private readonly sorted = new Map<SortOrder, Entry[]>();
  /** Facets of the whole index (a browse without filters); dropped on product changes. */
  private allFacets?: SearchResult["facets"];

  async open(): Promise<void> {}

  async upsert(docs: readonly SearchDocument[]): Promise<WriteOutcome> {
    const outcome = { applied: 0, ignored: 0 };
    for (const doc of docs) {
      if (!this.isNewer(doc.id, doc.productVersion)) {
        outcome.ignored++;
        continue;
      }
      this.productVersions.set(doc.id, doc.productVersion);
      const fields = indexedFields(doc);
      if (this.engine.has(doc.id)) this.engine.replace(fields);
      else this.engine.add(fields);
      this.entries.set(doc.id, {
        doc,
        available: this.stock.get(doc.id)?.available ?? 0,
        sortName: fold(doc.name),
        createdMs: Date.parse(doc.createdAt) || 0,
        pairs: attributePairs(doc.attributes),
        priceBucket: priceBucketOf(doc.price.amount),
      });
      outcome.applied++;
    }
    if (outcome.applied) this.forgetOrders();
    return outcome;
  }

  async remove(removals: readonly ProductRemoval[]): Promise<WriteOutcome> {
    const outcome = { applied: 0, ignored: 0 };
    for (const { id, productVersion } of removals) {
      if (!this.isNewer(id, productVersion)) {
        outcome.ignored++;
        continue;
      }
      this.productVersions.set(id, productVersion);
      if (this.entries.delete(id)) this.engine.discard(id);
      outcome.applied++;
    }
    if (outcome.applied) this.forgetOrders();
    return outcome;
  }

  async applyStock(levels: readonly StockLevel[]): Promise<WriteOutcome> {
    const outcome = { applied: 0, ignored: 0 };
    for (const level of levels) {
      const held = this.stock.get(level.productId);
      if (held && held.version >= level.version) {
        outcome.ignored++;
        continue;
      }
      const available = Math.max(0, level.available);
      this.stock.set(level.productId, { available, version: level.version });
      const entry = this.entries.get(level.productId);
      if (entry) entry.available = available;
      outcome.applied++;
    }
    return outcome;
  }

  async query(query: SearchQuery): Promise<SearchResult> {
    const sort = effectiveSort(query);
    const text = queryTerms(query);
    const keep = filterOf(query);
    const offset = (query.page - 1) * query.pageSize;
    const window = { page: query.page, pageSize: query.pageSize };
    if (!text.length) return { ...this.browse(sort, keep, offset, query.pageSize), ...window };

    let matches = this.textMatches(text, "AND", keep);
    // No product has every word: products with any of them, best first.
    if (!matches.length && text.length > 1) matches = this.textMatches(text, "OR", keep);
    matches.sort(comparator(sort));
    const facets = new FacetCounter();
    for (const m of matches) facets.add(m.entry);
    return {
      items: matches.slice(offset, offset + query.pageSize).map(toHit),
      total: matches.length,
      ...window,
      facets: facets.result(),
    };
  }

  async suggest(prefix: string, limit: number): Promise<Suggestion[]> {
    const text = queryTerms({ q: prefix });
    if (!text.length || limit < 1) return [];
    const results = this.engine.search(text.join(" "), {
      fields: ["name"],
      combineWith: "AND",
      prefix: true,
      fuzzy: false,
    });
    const ranked = results
      .map((r) => ({ entry: this.entries.get(r.id as string), score: r.score }))
      .filter((r): r is { entry: Entry; score: number } => !!r.entry)
      .sort((a, b) => b.score - a.score || compareStrings(a.entry.sortName, b.entry.sortName));
    const seen = new Set<string>();
    const out: Suggestion[] = [];
    for (const { entry } of ranked) {
      if (seen.has(entry.doc.name)) continue;
      seen.add(entry.doc.name);
      out.push({ text: entry.doc.name, productId: entry.doc.id, slug: entry.doc.slug });
      if (out.length >= limit) break;
    }
    return out;
  }

  async clear(): Promise<void> {
    this.engine = createEngine();
    this.entries.clear();
    this.productVersions.clear();
    this.stock.clear();
    this.forgetOrders();
  }

  async count(): Promise<number> {
    return this.entries.size;
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    await this.clear();
  }

  private forgetOrders(): void {
    this.sorted.clear();
    this.allFacets = undefined;
  }

  private isNewer(id: string, version: number): boolean {
    const held = this.productVersions.get(id);
    return held === undefined || version > held;
  }

  private textMatches(
    text: string[],
    combineWith: "AND" | "OR",
    keep: ((e: Entry) => boolean) | undefined,
  ): Scored[] {
    const out: Scored[] = [];
    for (const r of this.engine.search(textQuery(text, combineWith), searchOptions())) {
      const entry = this.entries.get(r.id as string);
      if (entry && (!keep || keep(entry))) out.push({ entry, score: r.score, terms: r.terms });
    }
    return out;
  }

  /** Without text: one pass over the entries in the sort's order. */
  private browse(
    sort: SortOrder,
    keep: ((e: Entry) => boolean) | undefined,
    offset: number,
    size: number,
  ): Pick<SearchResult, "items" | "total" | "facets"> {
    const ordered = this.inOrder(sort);
    if (!keep) {
      this.allFacets ??= FacetCounter.of(ordered).result();
      const items = ordered.slice(offset, offset + size).map((entry) => toHit({ entry, score: 0 }));
      return { items, total: ordered.length, facets: structuredClone(this.allFacets) };
    }
    const items: SearchHit[] = [];
    const facets = new FacetCounter();
    let total = 0;
    for (const entry of ordered) {
      if (!keep(entry)) continue;
      if (total >= offset && items.length < size) items.push(toHit({ entry, score: 0 }));
      total++;
      facets.add(entry);
    }
    return { items, total, facets: facets.result() };
  }

  private inOrder(sort: SortOrder): Entry[] {
    let list = this.sorted.get(sort);
    if (!list) {
      const compare = comparator(sort);
      list = [...this.entries.values()]
        .map((entry) => ({ entry, score: 0 }))
        .sort(compare)
        .map((s) => s.entry);
      this.sorted.set(sort, list);
    }
    return list;
  }
}

function createEngine(): MiniSearch<IndexedFields> {
  return new MiniSearch<IndexedFields>({
    fields: FIELDS,
    idField: "id",
    tokenize: (text) => words(text),
    processTerm: (word) => term(word),
    // Replacing a product discards its old postings; vacuum them in the background.
    autoVacuum: { minDirtCount: 1000, minDirtFactor: 0.1, batchSize: 1000, batchWait: 10 },
  });
}

function searchOptions() {
  return {
    boost: BOOST,
    prefix: (term: string) => term.length >= MIN_PREFIX_LENGTH,
    fuzzy: (term: string) => fuzzyDistance(term) || false,
  };
}

/**
 * One query per term, combined with AND (every word must match somewhere) or
 * OR. MiniSearch's fuzzy matching is Levenshtein, where two swapped letters
 * are 2 edits; Elasticsearch counts a transposition as 1. So a term of up to
 * 5 letters (1 edit allowed) also looks for its adjacent-letter swaps
 * ("lmap" → lamp), weighted like a fuzzy match.
 */
function textQuery(text: readonly string[], combineWith: "AND" | "OR"): Query {
  return {
    combineWith,
    queries: text.map((term) => {
      const swaps = fuzzyDistance(term) === 1 ? transpositions(term) : [];
      if (!swaps.length) return term;
      return {
        combineWith: "OR",
        queries: [term, { queries: swaps, fuzzy: false, prefix: false, boostTerm: () => 0.45 }],
      };
    }),
  };
}

function transpositions(term: string): string[] {
  const out = new Set<string>();
  for (let i = 0; i + 1 < term.length; i++) {
    if (term[i] === term[i + 1]) continue;
    out.add(term.slice(0, i) + term[i + 1] + term[i] + term.slice(i + 2));
  }
  return [...out];
}

function indexedFields(doc: SearchDocument): IndexedFields {
  return {
    id: doc.id,
    name: doc.name,
    brand: doc.brand,
    categoryName: doc.categoryName,
    description: doc.description,
    attributeText: Object.values(doc.attributes).join(" "),
  };
}

/** The filters as a predicate; undefined when the query has none. */
function filterOf(query: SearchQuery): ((e: Entry) => boolean) | undefined {
  const brands = query.brand?.length ? new Set(query.brand) : undefined;
  const attributes = Object.entries(query.attributes ?? {}).filter(([, v]) => v.length);
  const { category, minPrice, maxPrice, inStock } = query;
  const none =
    category === undefined &&
    !brands &&
    minPrice === undefined &&
    maxPrice === undefined &&
    inStock === undefined &&
    !attributes.length;
  if (none) return undefined;
  return (e) => {
    const d = e.doc;
    if (category !== undefined && !d.categoryPath.includes(category)) return false;
    if (brands && !brands.has(d.brand)) return false;
    if (minPrice !== undefined && d.price.amount < minPrice) return false;
    if (maxPrice !== undefined && d.price.amount > maxPrice) return false;
    if (inStock !== undefined && e.available > 0 !== inStock) return false;
    for (const [key, values] of attributes) {
      if (!values.includes(d.attributes[key])) return false;
    }
    return true;
  };
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The order of each sort, ties broken by id (as the Elasticsearch adapter does). */
function comparator(sort: SortOrder): (a: Scored, b: Scored) => number {
  const byId = (a: Scored, b: Scored) => compareStrings(a.entry.doc.id, b.entry.doc.id);
  switch (sort) {
    case "relevance":
      return (a, b) => b.score - a.score || byId(a, b);
    case "price":
      return (a, b) => a.entry.doc.price.amount - b.entry.doc.price.amount || byId(a, b);
    case "-price":
      return (a, b) => b.entry.doc.price.amount - a.entry.doc.price.amount || byId(a, b);
    case "name":
      return (a, b) => compareStrings(a.entry.sortName, b.entry.sortName) || byId(a, b);
    case "newest":
      return (a, b) => b.entry.createdMs - a.entry.createdMs || byId(a, b);
  }
}

function toHit({ entry, terms: matchedTerms }: Scored): SearchHit {
  const d = entry.doc;
  const hl: SearchHit["highlight"] = {};
  if (matchedTerms) {
    // The document words matched, prefix and fuzzy matches included.
    const matched = new Set(matchedTerms);
    const name = highlight(d.name, matched);
    const description = highlightFragment(d.description, matched);
    if (name) hl.name = name;
    if (description) hl.description = description;
  }
  return {
    id: d.id,
    slug: d.slug,
    name: d.name,
    brand: d.brand,
    price: { ...d.price },
    available: entry.available,
    inStock: entry.available > 0,
    highlight: hl,
  };
}

/** Facet counts, added up entry by entry. */
class FacetCounter {
  private readonly categories = new Map<string, number>();
  private readonly labels = new Map<string, string>();
  private readonly brands = new Map<string, number>();
  private readonly pairs = new Map<string, number>();
  private readonly prices = [0, 0, 0, 0, 0, 0];

  static of(entries: Iterable<Entry>): FacetCounter {
    const counter = new FacetCounter();
    for (const entry of entries) counter.add(entry);
    return counter;
  }

  add(entry: Entry): void {
    const d = entry.doc;
    const seen = this.categories.get(d.categoryId);
    this.categories.set(d.categoryId, (seen ?? 0) + 1);
    if (seen === undefined) this.labels.set(d.categoryId, d.categoryName);
    if (d.brand) this.brands.set(d.brand, (this.brands.get(d.brand) ?? 0) + 1);
    for (const p of entry.pairs) this.pairs.set(p, (this.pairs.get(p) ?? 0) + 1);
    this.prices[entry.priceBucket]++;
  }

  result(): SearchResult["facets"] {
    return {
      category: topTerms(this.categories, FACET_SIZES.category).map(({ value, count }) => ({
        value,
        label: this.labels.get(value) ?? "",
        count,
      })),
      brand: topTerms(this.brands, FACET_SIZES.brand),
      price: priceFacet(this.prices),
      attributes: groupAttributeFacets(topTerms(this.pairs, FACET_SIZES.attributePairs)),
    };
  }
}
