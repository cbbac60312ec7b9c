import type { estypes } from "@elastic/elasticsearch";
import {
  FACET_SIZES,
  Facets,
  PRICE_BUCKETS,
  ProductRemoval,
  SearchDocument,
  SearchHit,
  SearchQuery,
  SearchResult,
  SortOrder,
  Suggestion,
} from "./index-port";
import {
  attributePairs,
  effectiveSort,
  groupAttributeFacets,
  MIN_PREFIX_LENGTH,
  priceFacet,
  queryTerms,
} from "./query-support";
import { HIGHLIGHT_POST, HIGHLIGHT_PRE } from "./text";

/**
 * What the Elasticsearch adapter sends and how it reads the answers, as pure
 * functions (the contract suite checks both against the mock).
 *
 * One document per product id. Besides the product fields it holds
 * `productVersion`, `stock` and `stockVersion`, and `status`: "active"
 * (searchable), "removed" (a tombstone that keeps the versions) or "pending"
 * (stock known, product not yet). Every query filters on status "active".
 */

/** Analysis: the standard tokenizer, lower case, ASCII folding and English stop words. */
export const INDEX_SETTINGS: estypes.IndicesIndexSettings = {
  analysis: {
    filter: {
      english_stop: { type: "stop", stopwords: "_english_" },
      autocomplete_edge: { type: "edge_ngram", min_gram: 1, max_gram: 20 },
    },
    analyzer: {
      folding: {
        type: "custom",
        tokenizer: "standard",
        filter: ["lowercase", "asciifolding", "english_stop"],
      },
      autocomplete: {
        type: "custom",
        tokenizer: "standard",
        filter: ["lowercase", "asciifolding", "english_stop", "autocomplete_edge"],
      },
    },
    normalizer: {
      sortable: { type: "custom", filter: ["lowercase", "asciifolding"] },
    },
  },
};

export const INDEX_MAPPINGS: estypes.MappingTypeMapping = {
  dynamic: "strict",
  properties: {
    id: { type: "keyword" },
    slug: { type: "keyword" },
    name: {
      type: "text",
      analyzer: "folding",
      fields: {
        // Prefixes of every word of the name, for suggestions.
        autocomplete: { type: "text", analyzer: "autocomplete", search_analyzer: "folding" },
        sort: { type: "keyword", normalizer: "sortable" },
      },
    },
    description: { type: "text", analyzer: "folding" },
    brand: { type: "keyword", fields: { text: { type: "text", analyzer: "folding" } } },
    categoryId: { type: "keyword" },
    categoryPath: { type: "keyword" },
    categoryName: {
      type: "text",
      analyzer: "folding",
      fields: { raw: { type: "keyword" } },
    },
    price: {
      properties: { amount: { type: "long" }, currency: { type: "keyword" } },
    },
    // Filters by key (`attributes.color`); facets count `attributePairs` ("color=red").
    attributes: { type: "flattened" },
    attributePairs: { type: "keyword" },
    attributeText: { type: "text", analyzer: "folding" },
    status: { type: "keyword" },
    createdAt: { type: "date" },
    productVersion: { type: "long" },
    stock: {
      properties: { available: { type: "integer" }, inStock: { type: "boolean" } },
    },
    stockVersion: { type: "long" },
  },
};

/** Text fields and boosts, as the embedded adapter's. */
export const TEXT_FIELDS = [
  "name^3",
  "brand.text^2",
  "categoryName^1.5",
  "description",
  "attributeText",
];

/*
 * Writes are scripted upserts: the version checks run inside Elasticsearch,
 * atomically per document, so stale or repeated messages become no-ops there.
 * (External versioning cannot be used: a product write would replace the
 * stock held in the same document, and every stock update would bump the
 * document's _version past the product's next version.)
 */

export const UPSERT_PRODUCT_SCRIPT = [
  "def held = ctx._source.productVersion;",
  "if (held != null && held >= params.doc.productVersion) { ctx.op = 'noop'; } else {",
  "def stock = ctx._source.stock; def stockVersion = ctx._source.stockVersion;",
  "ctx._source.clear(); ctx._source.putAll(params.doc);",
  "ctx._source.stock = stock != null ? stock : ['available': 0, 'inStock': false];",
  "if (stockVersion != null) { ctx._source.stockVersion = stockVersion; }",
  "}",
].join(" ");

export const REMOVE_PRODUCT_SCRIPT = [
  "def held = ctx._source.productVersion;",
  "if (held != null && held >= params.productVersion) { ctx.op = 'noop'; } else {",
  "def stock = ctx._source.stock; def stockVersion = ctx._source.stockVersion;",
  "ctx._source.clear();",
  "ctx._source.id = params.id; ctx._source.status = 'removed';",
  "ctx._source.productVersion = params.productVersion;",
  "if (stock != null) { ctx._source.stock = stock; }",
  "if (stockVersion != null) { ctx._source.stockVersion = stockVersion; }",
  "}",
].join(" ");

export const APPLY_STOCK_SCRIPT = [
  "def held = ctx._source.stockVersion;",
  "if (held != null && held >= params.version) { ctx.op = 'noop'; } else {",
  "ctx._source.stock = ['available': params.available, 'inStock': params.available > 0];",
  "ctx._source.stockVersion = params.version;",
  "if (ctx._source.status == null) { ctx._source.id = params.id; ctx._source.status = 'pending'; }",
  "}",
].join(" ");

/** The indexed source of a document (stock is added by the script). */
export function documentSource(doc: SearchDocument): Record<string, unknown> {
  return {
    ...doc,
    attributePairs: attributePairs(doc.attributes),
    attributeText: Object.values(doc.attributes).join(" "),
  };
}

type BulkLine = Record<string, unknown>;

function scriptedUpsert(
  index: string,
  id: string,
  source: string,
  params: Record<string, unknown>,
): BulkLine[] {
  return [
    { update: { _index: index, _id: id, retry_on_conflict: 5 } },
    { script: { source, lang: "painless", params }, scripted_upsert: true, upsert: {} },
  ];
}

export function upsertOperations(index: string, docs: readonly SearchDocument[]): BulkLine[] {
  return docs.flatMap((doc) =>
    scriptedUpsert(index, doc.id, UPSERT_PRODUCT_SCRIPT, { doc: documentSource(doc) }),
  );
}

export function removeOperations(index: string, removals: readonly ProductRemoval[]): BulkLine[] {
  return removals.flatMap(({ id, productVersion }) =>
    scriptedUpsert(index, id, REMOVE_PRODUCT_SCRIPT, { id, productVersion }),
  );
}

export function stockOperations(
  index: string,
  levels: readonly { productId: string; available: number; version: number }[],
): BulkLine[] {
  return levels.flatMap((l) =>
    scriptedUpsert(index, l.productId, APPLY_STOCK_SCRIPT, {
      id: l.productId,
      available: Math.max(0, l.available),
      version: l.version,
    }),
  );
}

export const ACTIVE = { term: { status: "active" } };

function filterClauses(query: SearchQuery): estypes.QueryDslQueryContainer[] {
  const filter: estypes.QueryDslQueryContainer[] = [ACTIVE];
  if (query.category !== undefined) filter.push({ term: { categoryPath: query.category } });
  if (query.brand?.length) filter.push({ terms: { brand: query.brand } });
  if (query.minPrice !== undefined || query.maxPrice !== undefined) {
    const range: estypes.QueryDslNumberRangeQuery = {};
    if (query.minPrice !== undefined) range.gte = query.minPrice;
    if (query.maxPrice !== undefined) range.lte = query.maxPrice;
    filter.push({ range: { "price.amount": range } });
  }
  if (query.inStock !== undefined) filter.push({ term: { "stock.inStock": query.inStock } });
  for (const [key, values] of Object.entries(query.attributes ?? {})) {
    if (values.length) filter.push({ terms: { [`attributes.${key}`]: values } });
  }
  return filter;
}

/**
 * One clause per word: it matches the word with typos (`fuzziness: AUTO`,
 * transpositions count as one edit) in any text field, or — for words of 3+
 * characters — as the beginning of a word ("headph").
 */
function termClause(term: string): estypes.QueryDslQueryContainer {
  const fuzzy: estypes.QueryDslQueryContainer = {
    multi_match: { query: term, fields: TEXT_FIELDS, fuzziness: "AUTO" },
  };
  if (term.length < MIN_PREFIX_LENGTH) return fuzzy;
  return {
    bool: {
      should: [
        fuzzy,
        { multi_match: { query: term, fields: TEXT_FIELDS, type: "bool_prefix", boost: 0.5 } },
      ],
    },
  };
}

const SORTS: Record<SortOrder, estypes.SortCombinations[]> = {
  relevance: [{ _score: { order: "desc" } }, { id: { order: "asc" } }],
  price: [{ "price.amount": { order: "asc" } }, { id: { order: "asc" } }],
  "-price": [{ "price.amount": { order: "desc" } }, { id: { order: "asc" } }],
  name: [{ "name.sort": { order: "asc" } }, { id: { order: "asc" } }],
  newest: [{ createdAt: { order: "desc" } }, { id: { order: "asc" } }],
};

export const AGGREGATIONS: Record<string, estypes.AggregationsAggregationContainer> = {
  category: {
    terms: { field: "categoryId", size: FACET_SIZES.category },
    aggs: { label: { terms: { field: "categoryName.raw", size: 1 } } },
  },
  brand: { terms: { field: "brand", size: FACET_SIZES.brand } },
  price: {
    range: {
      field: "price.amount",
      ranges: PRICE_BUCKETS.map((b) => (b.to === null ? { from: b.from } : { ...b })),
    },
  },
  attributes: { terms: { field: "attributePairs", size: FACET_SIZES.attributePairs } },
};

export const HIGHLIGHT: estypes.SearchHighlight = {
  pre_tags: [HIGHLIGHT_PRE],
  post_tags: [HIGHLIGHT_POST],
  encoder: "html",
  fields: {
    name: { number_of_fragments: 0 },
    description: { fragment_size: 150, number_of_fragments: 1 },
  },
};

/**
 * The search request. Pagination is from/size: page × pageSize stays within
 * the default max_result_window (MAX_PAGE × MAX_PAGE_SIZE = 10 000). Every sort
 * ends with the id, so a `search_after` cursor could continue past it.
 * `combine` "or" is the fallback when no product has every word.
 */
export function searchRequest(
  index: string,
  query: SearchQuery,
  combine: "and" | "or" = "and",
): estypes.SearchRequest {
  const text = queryTerms(query);
  const bool: estypes.QueryDslBoolQuery = { filter: filterClauses(query) };
  if (text.length) {
    const clauses = text.map(termClause);
    if (combine === "and") bool.must = clauses;
    else Object.assign(bool, { should: clauses, minimum_should_match: 1 });
  }
  return {
    index,
    from: (query.page - 1) * query.pageSize,
    size: query.pageSize,
    track_total_hits: true,
    query: { bool },
    sort: SORTS[effectiveSort(query)],
    aggs: AGGREGATIONS,
    ...(text.length ? { highlight: HIGHLIGHT } : {}),
    _source: ["id", "slug", "name", "brand", "price", "stock"],
  };
}

interface HitSource {
  id: string;
  slug: string;
  name: string;
  brand: string;
  price: { amount: number; currency: string };
  stock?: { available: number; inStock: boolean };
}

interface TermsBucket {
  key: string;
  doc_count: number;
  label?: { buckets: TermsBucket[] };
}

type Buckets<T> = { buckets: T[] } | undefined;

/** The SearchResult of an answer to searchRequest(). */
export function parseSearchResponse(
  response: estypes.SearchResponse<HitSource>,
  query: SearchQuery,
): SearchResult {
  const total = response.hits.total;
  const aggs = (response.aggregations ?? {}) as Record<string, Buckets<never>>;
  return {
    items: response.hits.hits.map(toHit),
    total: typeof total === "number" ? total : (total?.value ?? 0),
    page: query.page,
    pageSize: query.pageSize,
    facets: parseFacets(aggs),
  };
}

function toHit(hit: estypes.SearchHit<HitSource>): SearchHit {
  const s = hit._source!;
  const highlight: SearchHit["highlight"] = {};
  const name = hit.highlight?.name?.[0];
  const description = hit.highlight?.description?.[0];
  if (name) highlight.name = name;
  if (description) highlight.description = description;
  const available = s.stock?.available ?? 0;
  return {
    id: s.id ?? hit._id,
    slug: s.slug,
    name: s.name,
    brand: s.brand,
    price: { amount: s.price.amount, currency: s.price.currency },
    available,
    inStock: available > 0,
    highlight,
  };
}

function parseFacets(aggs: Record<string, Buckets<never>>): Facets {
  const terms = (name: string) => (aggs[name] as Buckets<TermsBucket>)?.buckets ?? [];
  const prices = (aggs.price as Buckets<{ doc_count: number }>)?.buckets ?? [];
  return {
    category: terms("category").map((b) => ({
      value: String(b.key),
      label: b.label?.buckets[0]?.key ?? "",
      count: b.doc_count,
    })),
    brand: terms("brand").map((b) => ({ value: String(b.key), count: b.doc_count })),
    // Range buckets come back in the order they were asked for.
    price: priceFacet(prices.map((b) => b.doc_count)),
    attributes: groupAttributeFacets(
      terms("attributes").map((b) => ({ value: String(b.key), count: b.doc_count })),
    ),
  };
}

/** Product names whose words begin with the prefix's words (the edge-ngram subfield). */
export function suggestRequest(
  index: string,
  prefix: string,
  limit: number,
): estypes.SearchRequest {
  return {
    index,
    // Room for duplicates of a name, which are dropped.
    size: Math.min(limit * 3, 60),
    _source: ["id", "slug", "name"],
    query: {
      bool: {
        must: [
          {
            match: {
              "name.autocomplete": { query: queryTerms({ q: prefix }).join(" "), operator: "and" },
            },
          },
        ],
        filter: [ACTIVE],
      },
    },
    sort: [{ _score: { order: "desc" } }, { "name.sort": { order: "asc" } }],
  };
}

export function parseSuggestResponse(
  response: estypes.SearchResponse<Pick<HitSource, "id" | "slug" | "name">>,
  limit: number,
): Suggestion[] {
  const seen = new Set<string>();
  const out: Suggestion[] = [];
  for (const hit of response.hits.hits) {
    const s = hit._source;
    if (!s || seen.has(s.name)) continue;
    seen.add(s.name);
    out.push({ text: s.name, productId: s.id ?? hit._id, slug: s.slug });
    if (out.length >= limit) break;
  }
  return out;
}
