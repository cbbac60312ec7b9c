import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  APPLY_STOCK_SCRIPT,
  REMOVE_PRODUCT_SCRIPT,
  TEXT_FIELDS,
  UPSERT_PRODUCT_SCRIPT,
} from "../../services/search/elasticsearch-requests";
import {
  ElasticsearchIndex,
  elasticsearchClientOptions,
} from "../../services/search/elasticsearch-index";
import type {
  SearchIndex,
  SearchQuery,
  SearchResult,
  Suggestion,
} from "../../services/search/index-port";
import { MiniSearchIndex } from "../../services/search/minisearch-index";
import {
  ElasticsearchMock,
  elasticsearchUrl,
  errorResponse,
  freshIndexName,
  notFound,
  RecordedRequest,
  realClient,
} from "../helpers/elasticsearch";
import { CATALOG_DOCS, doc, STOCK } from "../helpers/search-fixtures";

/**
 * The search index port's contract, one suite over every adapter:
 *  - MiniSearch (embedded), always;
 *  - Elasticsearch through the official client against
 *    @elastic/elasticsearch-mock, always: the requests it sends (index
 *    creation, query bodies, bulk writes) are checked, and realistic
 *    responses must parse into the same SearchResult MiniSearch gives;
 *  - Elasticsearch for real when TEST_ELASTICSEARCH_URL is set (never on
 *    CI: there is no cluster there), running the behaviour cases.
 * The "same answer" cases run on all three with one expected result.
 */

type Kind = "minisearch" | "elasticsearch-mock" | "elasticsearch";
const targets: { name: string; kind: Kind }[] = [
  { name: "minisearch", kind: "minisearch" },
  { name: "elasticsearch (official mock)", kind: "elasticsearch-mock" },
  ...(elasticsearchUrl
    ? [{ name: "elasticsearch (TEST_ELASTICSEARCH_URL)", kind: "elasticsearch" as const }]
    : []),
];

const INDEX = "products";
const ids = (r: SearchResult) => r.items.map((i) => i.id);
const q = (query: Partial<SearchQuery>): SearchQuery => ({ page: 1, pageSize: 20, ...query });

// ---- One question, one answer: the expected results every adapter must give. ----

const AUDIO_BY_PRICE = q({ category: "audio", sort: "price", pageSize: 3 });

const EMPTY_PRICE_BUCKETS = [
  { from: 0, to: 2500, count: 0 },
  { from: 2500, to: 5000, count: 0 },
  { from: 5000, to: 10000, count: 0 },
  { from: 10000, to: 25000, count: 0 },
  { from: 25000, to: 50000, count: 0 },
  { from: 50000, to: null, count: 0 },
];
const withPriceCounts = (counts: number[]) =>
  EMPTY_PRICE_BUCKETS.map((b, i) => ({ ...b, count: counts[i] }));

const AUDIO_BY_PRICE_RESULT: SearchResult = {
  items: [
    {
      id: "p12",
      slug: "headphone-stand",
      name: "Headphone Stand",
      brand: "Grovemade",
      price: { amount: 2400, currency: "USD" },
      available: 30,
      inStock: true,
      highlight: {},
    },
    {
      id: "p04",
      slug: "jbl-flip-6-portable-speaker",
      name: "JBL Flip 6 Portable Speaker",
      brand: "JBL",
      price: { amount: 12999, currency: "USD" },
      available: 20,
      inStock: true,
      highlight: {},
    },
    {
      id: "p03",
      slug: "apple-airpods-pro-2nd-generation",
      name: "Apple AirPods Pro (2nd generation)",
      brand: "Apple",
      price: { amount: 24900, currency: "USD" },
      available: 0,
      inStock: false,
      highlight: {},
    },
  ],
  total: 6,
  page: 1,
  pageSize: 3,
  facets: {
    category: [
      { value: "headphones", label: "Headphones", count: 3 },
      { value: "speakers", label: "Speakers", count: 2 },
      { value: "audio-accessories", label: "Audio accessories", count: 1 },
    ],
    brand: ["Apple", "Bose", "Grovemade", "JBL", "Sonos", "Sony"].map((value) => ({
      value,
      count: 1,
    })),
    price: withPriceCounts([1, 0, 0, 3, 2, 0]),
    attributes: {
      color: [
        { value: "black", count: 2 },
        { value: "white", count: 2 },
        { value: "blue", count: 1 },
        { value: "brown", count: 1 },
      ],
    },
  },
};

const WALNUT = q({ q: "walnut", pageSize: 3 });
const WALNUT_RESULT: SearchResult = {
  items: [
    {
      ...AUDIO_BY_PRICE_RESULT.items[0],
      highlight: {
        description:
          "Keeps your headphones tidy. &lt;b&gt;Solid <em>walnut</em>&lt;&#x2F;b&gt; &amp; aluminium.",
      },
    },
  ],
  total: 1,
  page: 1,
  pageSize: 3,
  facets: {
    category: [{ value: "audio-accessories", label: "Audio accessories", count: 1 }],
    brand: [{ value: "Grovemade", count: 1 }],
    price: withPriceCounts([1, 0, 0, 0, 0, 0]),
    attributes: { color: [{ value: "brown", count: 1 }] },
  },
};

const SONY_SUGGESTIONS: Suggestion[] = [
  {
    text: "Sony WH-1000XM5 Wireless Headphones",
    productId: "p01",
    slug: "sony-wh-1000xm5-wireless-headphones",
  },
];

// ---- What Elasticsearch answers to those questions (shapes as a 9.x cluster sends them). ----

function hit(id: string, sort: unknown[], extra: Record<string, unknown> = {}) {
  const d = doc(id);
  const available = STOCK.find((s) => s.productId === id)!.available;
  return {
    _index: INDEX,
    _id: id,
    _score: null,
    _source: {
      id,
      slug: d.slug,
      name: d.name,
      brand: d.brand,
      price: d.price,
      stock: { available, inStock: available > 0 },
    },
    sort,
    ...extra,
  };
}

function termsAgg(buckets: [string, number][], extra: (key: string) => object = () => ({})) {
  return {
    doc_count_error_upper_bound: 0,
    sum_other_doc_count: 0,
    buckets: buckets.map(([key, doc_count]) => ({ key, doc_count, ...extra(key) })),
  };
}

function priceAgg(counts: number[]) {
  const edges = [0, 2500, 5000, 10000, 25000, 50000];
  return {
    buckets: edges.map((from, i) => {
      const to = edges[i + 1];
      return to === undefined
        ? { key: `${from}.0-*`, from, doc_count: counts[i] }
        : { key: `${from}.0-${to}.0`, from, to, doc_count: counts[i] };
    }),
  };
}

const LABELS: Record<string, string> = {
  headphones: "Headphones",
  speakers: "Speakers",
  "audio-accessories": "Audio accessories",
};
const labelAgg = (key: string) => ({ label: termsAgg([[LABELS[key], 1]]) });

function searchResponse(total: number, hits: unknown[], aggregations: Record<string, unknown>) {
  return {
    took: 4,
    timed_out: false,
    _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
    hits: { total: { value: total, relation: "eq" }, max_score: null, hits },
    aggregations,
  };
}

const AUDIO_BY_PRICE_RESPONSE = searchResponse(
  6,
  [hit("p12", [2400, "p12"]), hit("p04", [12999, "p04"]), hit("p03", [24900, "p03"])],
  {
    category: termsAgg(
      [
        ["headphones", 3],
        ["speakers", 2],
        ["audio-accessories", 1],
      ],
      labelAgg,
    ),
    brand: termsAgg([
      ["Apple", 1],
      ["Bose", 1],
      ["Grovemade", 1],
      ["JBL", 1],
      ["Sonos", 1],
      ["Sony", 1],
    ]),
    price: priceAgg([1, 0, 0, 3, 2, 0]),
    attributes: termsAgg([
      ["color=black", 2],
      ["color=white", 2],
      ["color=blue", 1],
      ["color=brown", 1],
    ]),
  },
);

const WALNUT_RESPONSE = searchResponse(
  1,
  [
    hit("p12", [4.2871, "p12"], {
      _score: 4.2871,
      highlight: {
        description: [
          "Keeps your headphones tidy. &lt;b&gt;Solid <em>walnut</em>&lt;&#x2F;b&gt; &amp; aluminium.",
        ],
      },
    }),
  ],
  {
    category: termsAgg([["audio-accessories", 1]], labelAgg),
    brand: termsAgg([["Grovemade", 1]]),
    price: priceAgg([1, 0, 0, 0, 0, 0]),
    attributes: termsAgg([["color=brown", 1]]),
  },
);

const SONY_SUGGEST_RESPONSE = {
  took: 2,
  timed_out: false,
  _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
  hits: {
    total: { value: 1, relation: "eq" },
    max_score: null,
    hits: [
      {
        _index: INDEX,
        _id: "p01",
        _score: 3.1,
        _source: {
          id: "p01",
          slug: "sony-wh-1000xm5-wireless-headphones",
          name: "Sony WH-1000XM5 Wireless Headphones",
        },
        sort: [3.1, "sony wh-1000xm5 wireless headphones"],
      },
    ],
  },
};

/** A bulk answer: every update applied ("created"), or as `results` says, in order. */
function bulkAnswer(results?: string[]) {
  return (req: RecordedRequest) => {
    const actions = (req.body as Record<string, { _id: string }>[]).filter((_, i) => i % 2 === 0);
    return {
      errors: false,
      took: 3,
      items: actions.map((line, i) => {
        const result = results?.[i] ?? "created";
        return {
          update: {
            _index: INDEX,
            _id: line.update._id,
            _version: result === "noop" ? 2 : 1,
            result,
            _shards: { total: 2, successful: 1, failed: 0 },
            _seq_no: i,
            _primary_term: 1,
            status: result === "created" ? 201 : 200,
          },
        };
      }),
    };
  };
}

describe.each(targets)("search index contract: $name", ({ kind }) => {
  let index: SearchIndex;
  let es: ElasticsearchMock | undefined;
  const realIndexName = freshIndexName();
  let real: ElasticsearchIndex | undefined;

  beforeAll(async () => {
    if (kind !== "elasticsearch") return;
    real = new ElasticsearchIndex({
      client: realClient(),
      index: realIndexName,
      refresh: "wait_for",
    });
    await real.open();
  });

  afterAll(async () => {
    if (!real) return;
    const client = realClient();
    await client.indices.delete({ index: realIndexName }).catch(() => undefined);
    await client.close();
    await real.close();
  });

  beforeEach(async () => {
    es = undefined;
    if (kind === "minisearch") index = new MiniSearchIndex();
    if (kind === "elasticsearch-mock") {
      es = new ElasticsearchMock().answer("HEAD", `/${INDEX}`, "");
      index = new ElasticsearchIndex({ client: es.client(), index: INDEX });
    }
    if (kind === "elasticsearch") {
      index = real!;
      await index.clear();
    }
    await index.open();
    es?.reset();
  });

  /** The fixture catalog with its stock (on the mock, the bulk requests are answered). */
  async function loadCatalog() {
    es?.always("POST", "/_bulk", bulkAnswer());
    await index.upsert(CATALOG_DOCS);
    await index.applyStock(STOCK);
    es?.reset();
  }

  /** On the mock, the next search gets `response`; elsewhere the index answers itself. */
  function whenAsked(response: unknown) {
    es?.answer("POST", `/${INDEX}/_search`, response);
  }

  describe("every adapter gives the same answer", () => {
    it("browsing a category tree by price: page, total, facets over the filtered set", async () => {
      await loadCatalog();
      whenAsked(AUDIO_BY_PRICE_RESPONSE);
      expect(await index.query(AUDIO_BY_PRICE)).toEqual(AUDIO_BY_PRICE_RESULT);
    });

    it("a text match: highlighted on HTML-escaped text", async () => {
      await loadCatalog();
      whenAsked(WALNUT_RESPONSE);
      expect(await index.query(WALNUT)).toEqual(WALNUT_RESULT);
    });

    it("suggestions: names completing every word typed", async () => {
      await loadCatalog();
      whenAsked(SONY_SUGGEST_RESPONSE);
      expect(await index.suggest("sony wh", 5)).toEqual(SONY_SUGGESTIONS);
    });
  });

  if (kind !== "elasticsearch-mock") {
    describe("behaviour", () => {
      beforeEach(loadCatalog);

      it("ranks an exact word above prefix and typo matches", async () => {
        expect(ids(await index.query(q({ q: "headphone" })))[0]).toBe("p12");
        const plural = ids(await index.query(q({ q: "headphones" })));
        expect(plural.slice(0, 2).sort()).toEqual(["p01", "p02"]);
        expect(plural).toContain("p12");
      });

      it.each([
        ["missing letter", "headphnes", ["p01", "p02"]],
        ["missing letter", "hedphones", ["p01", "p02"]],
        ["swapped letters", "haedphones", ["p01", "p02"]],
        ["extra letter", "headphonnes", ["p01", "p02"]],
        ["swapped letters in a short word", "snoy", ["p01"]],
        ["missing letter in a short word", "sny", ["p01"]],
        ["a typo in one of two words", "sony headphnes", ["p01"]],
      ])("finds a word despite a %s (%s)", async (_typo, text, expected) => {
        expect(ids(await index.query(q({ q: text })))).toEqual(expect.arrayContaining(expected));
      });

      it("matches the beginning of a word (3+ characters)", async () => {
        expect(ids(await index.query(q({ q: "headph" })))).toEqual(
          expect.arrayContaining(["p01", "p02", "p12"]),
        );
        expect(ids(await index.query(q({ q: "espres" })))).toEqual(["p08"]);
      });

      it("requires every word, and falls back to any word when no product has all", async () => {
        expect(ids(await index.query(q({ q: "sony headphones" })))).toEqual(["p01"]);
        expect(ids(await index.query(q({ q: "headphones for running" })))).toEqual(
          expect.arrayContaining(["p01", "p02", "p10", "p11"]),
        );
      });

      it("filters by category including its descendants", async () => {
        expect(ids(await index.query(q({ category: "headphones" }))).sort()).toEqual([
          "p01",
          "p02",
          "p03",
        ]);
        expect((await index.query(q({ category: "audio" }))).total).toBe(6);
        expect((await index.query(q({ category: "electronics" }))).total).toBe(8);
        expect((await index.query(q({ category: "nowhere" }))).total).toBe(0);
      });

      it("filters by brand, price range, stock and attributes", async () => {
        const sorted = async (query: Partial<SearchQuery>) =>
          ids(await index.query(q(query))).sort();
        expect(await sorted({ brand: ["Sony", "Bose"] })).toEqual(["p01", "p02"]);
        expect(await sorted({ minPrice: 20000, maxPrice: 44999 })).toEqual([
          "p01",
          "p02",
          "p03",
          "p05",
          "p09",
        ]);
        expect(await sorted({ inStock: false })).toEqual(["p03", "p07", "p11"]);
        expect((await index.query(q({ inStock: true }))).total).toBe(9);
        expect(await sorted({ attributes: { color: ["red"] } })).toEqual(["p09", "p10"]);
        expect(await sorted({ attributes: { color: ["red", "blue"] } })).toEqual([
          "p04",
          "p09",
          "p10",
        ]);
        expect(await sorted({ q: "running", attributes: { size: ["42"] } })).toEqual(["p10"]);
        expect(await sorted({ q: "headphones", brand: ["Bose"], inStock: true })).toEqual(["p02"]);
      });

      it("counts facets over the whole filtered result, not just the page", async () => {
        const result = await index.query(q({ q: "running", pageSize: 1 }));
        expect(result.items).toHaveLength(1);
        expect(result.total).toBe(2);
        expect(result.facets).toEqual({
          category: [{ value: "shoes", label: "Shoes", count: 2 }],
          brand: [
            { value: "Adidas", count: 1 },
            { value: "Nike", count: 1 },
          ],
          price: withPriceCounts([0, 0, 0, 2, 0, 0]),
          attributes: {
            color: [
              { value: "black", count: 1 },
              { value: "red", count: 1 },
            ],
            size: [
              { value: "42", count: 1 },
              { value: "43", count: 1 },
            ],
          },
        });
      });

      it("sorts by price, name and newest, ties by id; newest is the default without q", async () => {
        const all = (sort?: SearchQuery["sort"]) => index.query(q({ sort })).then(ids);
        const byPrice = [
          "p12",
          "p04",
          "p10",
          "p11",
          "p03",
          "p05",
          "p01",
          "p02",
          "p09",
          "p08",
        ].concat(["p06", "p07"]);
        expect(await all("price")).toEqual(byPrice);
        expect(await all("-price")).toEqual([
          "p07",
          "p06",
          "p08",
          "p09",
          "p02",
          "p01",
          "p03",
          "p05",
          "p11",
          "p04",
          "p10",
          "p12",
        ]);
        expect(await all("name")).toEqual([
          "p11",
          "p03",
          "p02",
          "p08",
          "p06",
          "p12",
          "p04",
          "p09",
          "p07",
          "p10",
          "p05",
          "p01",
        ]);
        const newest = CATALOG_DOCS.map((d) => d.id).reverse();
        expect(await all("newest")).toEqual(newest);
        expect(await all()).toEqual(newest);
        expect(await all("relevance")).toEqual(newest);
        expect(ids(await index.query(q({ q: "speaker", sort: "-price" })))).toEqual(["p05", "p04"]);
      });

      it("pages with a stable total", async () => {
        const page = (n: number) => index.query(q({ sort: "price", page: n, pageSize: 5 }));
        const [first, second, third, beyond] = await Promise.all([1, 2, 3, 4].map(page));
        expect([first, second, third, beyond].map((r) => r.total)).toEqual([12, 12, 12, 12]);
        expect([first, second, third, beyond].map((r) => r.items.length)).toEqual([5, 5, 2, 0]);
        expect(new Set([first, second, third].flatMap(ids)).size).toBe(12);
        expect(third.page).toBe(3);
        expect(third.pageSize).toBe(5);
      });

      it("ignores product updates older than (or as old as) what it holds", async () => {
        const newer = doc("p01", { name: "Sony WH-1000XM6 Headphones", productVersion: 3 });
        const older = doc("p01", { name: "Sony Vintage Headphones", productVersion: 2 });
        expect(await index.upsert([newer])).toEqual({ applied: 1, ignored: 0 });
        expect(await index.upsert([older, newer])).toEqual({ applied: 0, ignored: 2 });
        const found = await index.query(q({ q: "sony" }));
        expect(found.items.map((i) => i.name)).toEqual(["Sony WH-1000XM6 Headphones"]);
        expect((await index.query(q({ q: "vintage" }))).total).toBe(0);
      });

      it("keeps a removed product removed when an older update arrives later", async () => {
        expect(await index.remove([{ id: "p04", productVersion: 5 }])).toEqual({
          applied: 1,
          ignored: 0,
        });
        expect(await index.upsert([doc("p04", { productVersion: 4 })])).toEqual({
          applied: 0,
          ignored: 1,
        });
        expect((await index.query(q({ q: "flip" }))).total).toBe(0);
        expect(await index.count()).toBe(11);
        await index.upsert([doc("p04", { productVersion: 6 })]);
        expect(ids(await index.query(q({ q: "flip" })))).toEqual(["p04"]);
      });

      it("removes archived products from results, suggestions and the count", async () => {
        await index.remove([{ id: "p02", productVersion: 2 }]);
        expect(ids(await index.query(q({ q: "quietcomfort" })))).toEqual([]);
        expect((await index.suggest("bose", 5)).length).toBe(0);
        expect(await index.count()).toBe(11);
        expect((await index.query(q({ brand: ["Bose"] }))).total).toBe(0);
      });

      it("applies stock by its own version, ignoring older levels", async () => {
        const level = (available: number, version: number) => ({
          productId: "p01",
          onHand: available,
          reserved: 0,
          available,
          version,
        });
        expect(await index.applyStock([level(0, 5)])).toEqual({ applied: 1, ignored: 0 });
        expect(await index.applyStock([level(9, 4)])).toEqual({ applied: 0, ignored: 1 });
        const item = (await index.query(q({ q: "sony" }))).items[0];
        expect(item).toMatchObject({ id: "p01", available: 0, inStock: false });
        expect(ids(await index.query(q({ inStock: false })))).toContain("p01");
        // A product update keeps the stock it had.
        await index.upsert([doc("p01", { productVersion: 2 })]);
        expect((await index.query(q({ q: "sony" }))).items[0].available).toBe(0);
      });

      it("remembers stock that arrives before its product", async () => {
        const early = { productId: "p99", onHand: 7, reserved: 0, available: 7, version: 3 };
        await index.applyStock([early]);
        expect(await index.count()).toBe(12);
        expect((await index.query(q({ q: "turntable" }))).total).toBe(0);
        await index.upsert([
          {
            ...doc("p04"),
            id: "p99",
            slug: "audio-technica-turntable",
            name: "Audio-Technica Turntable",
            brand: "Audio-Technica",
          },
        ]);
        const item = (await index.query(q({ q: "turntable" }))).items[0];
        expect(item).toMatchObject({ id: "p99", available: 7, inStock: true });
        expect(await index.count()).toBe(13);
      });

      it("highlights matched words in the name, prefix and typo matches included", async () => {
        const [sony] = (await index.query(q({ q: "sony wireles" }))).items;
        expect(sony.highlight.name).toBe("<em>Sony</em> WH-1000XM5 <em>Wireless</em> Headphones");
        const [stand] = (await index.query(q({ q: "walnut" }))).items;
        expect(stand.highlight.name).toBeUndefined();
        expect(stand.highlight.description).not.toContain("<b>");
        // No text, no highlight.
        expect((await index.query(q({ category: "audio" }))).items[0].highlight).toEqual({});
      });

      it("suggests distinct product names, best first, up to the limit", async () => {
        const names = (await index.suggest("head", 10)).map((s) => s.text);
        expect(names).toEqual(
          expect.arrayContaining([
            "Headphone Stand",
            "Sony WH-1000XM5 Wireless Headphones",
            "Bose QuietComfort Ultra Headphones",
          ]),
        );
        expect(names[0]).toBe("Headphone Stand");
        expect(await index.suggest("head", 1)).toHaveLength(1);
        expect(await index.suggest("zzz", 5)).toEqual([]);
        expect(await index.suggest("the", 5)).toEqual([]);
      });

      it("treats a query without words as no query", async () => {
        expect((await index.query(q({ q: "!!!" }))).total).toBe(12);
      });

      it("clears everything, and answers an empty index normally", async () => {
        await index.clear();
        expect(await index.count()).toBe(0);
        const empty = await index.query(q({ q: "headphones" }));
        expect(empty).toEqual({
          items: [],
          total: 0,
          page: 1,
          pageSize: 20,
          facets: { category: [], brand: [], price: EMPTY_PRICE_BUCKETS, attributes: {} },
        });
        expect(await index.ping()).toBe(true);
      });
    });
  }

  if (kind === "elasticsearch-mock") {
    describe("requests sent to Elasticsearch", () => {
      const mock = () => es!;

      it("creates a missing index with explicit mappings and analyzers", async () => {
        const fresh = new ElasticsearchMock();
        fresh.answer("HEAD", `/${INDEX}`, notFound());
        fresh.answer("PUT", `/${INDEX}`, { acknowledged: true, index: INDEX });
        await new ElasticsearchIndex({ client: fresh.client(), index: INDEX }).open();
        const [created] = fresh.sent("PUT", `/${INDEX}`);
        const { settings, mappings } = created.body;
        expect(settings.analysis.filter.autocomplete_edge).toEqual({
          type: "edge_ngram",
          min_gram: 1,
          max_gram: 20,
        });
        expect(settings.analysis.analyzer.folding.filter).toEqual([
          "lowercase",
          "asciifolding",
          "english_stop",
        ]);
        expect(mappings.dynamic).toBe("strict");
        const p = mappings.properties;
        expect(p.name.fields.autocomplete).toEqual({
          type: "text",
          analyzer: "autocomplete",
          search_analyzer: "folding",
        });
        expect(p.name.fields.sort).toEqual({ type: "keyword", normalizer: "sortable" });
        expect(p.brand.type).toBe("keyword");
        expect(p.categoryPath).toEqual({ type: "keyword" });
        expect(p.attributes).toEqual({ type: "flattened" });
        expect(p.attributePairs).toEqual({ type: "keyword" });
        expect(p.price.properties.amount).toEqual({ type: "long" });
        expect(p.stock.properties.inStock).toEqual({ type: "boolean" });
        expect(p.productVersion).toEqual({ type: "long" });
      });

      it("leaves an existing index alone, and tolerates another node creating it first", async () => {
        const existing = new ElasticsearchMock().answer("HEAD", `/${INDEX}`, "");
        await new ElasticsearchIndex({ client: existing.client(), index: INDEX }).open();
        expect(existing.requests.map((r) => r.method)).toEqual(["HEAD"]);

        const race = new ElasticsearchMock()
          .answer("HEAD", `/${INDEX}`, notFound())
          .answer(
            "PUT",
            `/${INDEX}`,
            errorResponse(400, "resource_already_exists_exception", "index exists"),
          );
        await expect(
          new ElasticsearchIndex({ client: race.client(), index: INDEX }).open(),
        ).resolves.toBeUndefined();
      });

      it("writes products as versioned scripted upserts in one bulk request", async () => {
        mock().answer("POST", "/_bulk", bulkAnswer(["created", "noop"]));
        const outcome = await index.upsert([
          doc("p10"),
          doc("p11", { productVersion: 4, attributes: { color: "black", size: "43" } }),
        ]);
        expect(outcome).toEqual({ applied: 1, ignored: 1 });
        const [bulk] = mock().sent("POST", "/_bulk");
        expect(bulk.body).toHaveLength(4);
        expect(bulk.body[2]).toEqual({
          update: { _index: INDEX, _id: "p11", retry_on_conflict: 5 },
        });
        expect(bulk.body[3]).toEqual({
          script: {
            source: UPSERT_PRODUCT_SCRIPT,
            lang: "painless",
            params: {
              doc: {
                ...doc("p11", { productVersion: 4, attributes: { color: "black", size: "43" } }),
                attributePairs: ["color=black", "size=43"],
                attributeText: "black 43",
              },
            },
          },
          scripted_upsert: true,
          upsert: {},
        });
        // The version check runs in Elasticsearch, atomically per document.
        expect(UPSERT_PRODUCT_SCRIPT).toContain(
          "held >= params.doc.productVersion) { ctx.op = 'noop'; } else {",
        );
      });

      it("removes as tombstones and applies stock by its own version", async () => {
        mock().always("POST", "/_bulk", bulkAnswer());
        await index.remove([{ id: "p02", productVersion: 7 }]);
        await index.applyStock([
          { productId: "p02", onHand: 5, reserved: 2, available: 3, version: 11 },
        ]);
        const [removal, stock] = mock().sent("POST", "/_bulk");
        expect(removal.body[1].script).toEqual({
          source: REMOVE_PRODUCT_SCRIPT,
          lang: "painless",
          params: { id: "p02", productVersion: 7 },
        });
        expect(REMOVE_PRODUCT_SCRIPT).toContain("ctx._source.status = 'removed'");
        expect(stock.body[1]).toEqual({
          script: {
            source: APPLY_STOCK_SCRIPT,
            lang: "painless",
            params: { id: "p02", available: 3, version: 11 },
          },
          scripted_upsert: true,
          upsert: {},
        });
        // Stock for a product not indexed yet makes a "pending" document, invisible to queries.
        expect(APPLY_STOCK_SCRIPT).toContain("ctx._source.status = 'pending'");
      });

      it("fails a bulk write when Elasticsearch rejects an item (the message is retried)", async () => {
        mock().answer("POST", "/_bulk", {
          errors: true,
          took: 2,
          items: [
            {
              update: {
                _index: INDEX,
                _id: "p01",
                status: 429,
                error: { type: "es_rejected_execution_exception", reason: "queue full" },
              },
            },
          ],
        });
        await expect(index.upsert([doc("p01")])).rejects.toThrow(
          "p01: es_rejected_execution_exception: queue full",
        );
      });

      it("queries with per-word fuzzy multi_match, filters, aggregations, sort and highlight", async () => {
        whenAsked(searchResponse(0, [], {}));
        whenAsked(searchResponse(0, [], {}));
        await index.query({
          q: "Hedphones wireless",
          category: "audio",
          brand: ["Sony", "Bose"],
          minPrice: 1000,
          maxPrice: 50000,
          inStock: true,
          attributes: { color: ["black", "white"] },
          sort: "-price",
          page: 3,
          pageSize: 10,
        });
        const [search, fallback] = mock().sent("POST", `/${INDEX}/_search`);
        const body = search.body;
        expect(body.from).toBe(20);
        expect(body.size).toBe(10);
        expect(body.track_total_hits).toBe(true);
        expect(body.query.bool.must).toEqual(
          ["hedphones", "wireless"].map((term) => ({
            bool: {
              should: [
                { multi_match: { query: term, fields: TEXT_FIELDS, fuzziness: "AUTO" } },
                {
                  multi_match: {
                    query: term,
                    fields: TEXT_FIELDS,
                    type: "bool_prefix",
                    boost: 0.5,
                  },
                },
              ],
            },
          })),
        );
        expect(TEXT_FIELDS).toEqual([
          "name^3",
          "brand.text^2",
          "categoryName^1.5",
          "description",
          "attributeText",
        ]);
        expect(body.query.bool.filter).toEqual([
          { term: { status: "active" } },
          { term: { categoryPath: "audio" } },
          { terms: { brand: ["Sony", "Bose"] } },
          { range: { "price.amount": { gte: 1000, lte: 50000 } } },
          { term: { "stock.inStock": true } },
          { terms: { "attributes.color": ["black", "white"] } },
        ]);
        expect(body.sort).toEqual([
          { "price.amount": { order: "desc" } },
          { id: { order: "asc" } },
        ]);
        expect(body.aggs.category.terms).toEqual({ field: "categoryId", size: 50 });
        expect(body.aggs.category.aggs.label.terms).toEqual({
          field: "categoryName.raw",
          size: 1,
        });
        expect(body.aggs.brand).toEqual({ terms: { field: "brand", size: 50 } });
        expect(body.aggs.attributes).toEqual({ terms: { field: "attributePairs", size: 200 } });
        expect(body.aggs.price.range.ranges).toEqual([
          { from: 0, to: 2500 },
          { from: 2500, to: 5000 },
          { from: 5000, to: 10000 },
          { from: 10000, to: 25000 },
          { from: 25000, to: 50000 },
          { from: 50000 },
        ]);
        expect(body.highlight).toMatchObject({
          pre_tags: ["<em>"],
          post_tags: ["</em>"],
          encoder: "html",
        });
        // Nothing had both words: the same query again with any word.
        expect(fallback.body.query.bool.must).toBeUndefined();
        expect(fallback.body.query.bool.should).toEqual(body.query.bool.must);
        expect(fallback.body.query.bool.minimum_should_match).toBe(1);
      });

      it("browses without text: only filters, no highlight, newest first", async () => {
        whenAsked(searchResponse(0, [], {}));
        await index.query(q({}));
        const [search] = mock().sent("POST", `/${INDEX}/_search`);
        expect(search.body.query).toEqual({ bool: { filter: [{ term: { status: "active" } }] } });
        expect(search.body.highlight).toBeUndefined();
        expect(search.body.sort[0]).toEqual({ createdAt: { order: "desc" } });
        expect(mock().sent("POST", `/${INDEX}/_search`)).toHaveLength(1);
      });

      it("suggests from the edge-ngram subfield and drops repeated names", async () => {
        const twice = {
          ...SONY_SUGGEST_RESPONSE,
          hits: {
            ...SONY_SUGGEST_RESPONSE.hits,
            hits: [
              ...SONY_SUGGEST_RESPONSE.hits.hits,
              {
                ...SONY_SUGGEST_RESPONSE.hits.hits[0],
                _id: "p77",
                _source: { id: "p77", slug: "other", name: SONY_SUGGESTIONS[0].text },
              },
            ],
          },
        };
        whenAsked(twice);
        expect(await index.suggest("Sony WH", 4)).toEqual(SONY_SUGGESTIONS);
        const [request] = mock().sent("POST", `/${INDEX}/_search`);
        expect(request.body.size).toBe(12);
        expect(request.body.query.bool.must).toEqual([
          { match: { "name.autocomplete": { query: "sony wh", operator: "and" } } },
        ]);
        expect(request.body.query.bool.filter).toEqual([{ term: { status: "active" } }]);
      });

      it("counts active documents, clears by query, and pings", async () => {
        mock()
          .answer("POST", `/${INDEX}/_count`, { count: 42, _shards: { total: 1, successful: 1 } })
          .answer("POST", `/${INDEX}/_delete_by_query`, { deleted: 42, failures: [] })
          .answer("HEAD", "/", "");
        expect(await index.count()).toBe(42);
        expect(mock().sent("POST", `/${INDEX}/_count`)[0].body).toEqual({
          query: { term: { status: "active" } },
        });
        await index.clear();
        const [clear] = mock().sent("POST", `/${INDEX}/_delete_by_query`);
        expect(clear.body).toEqual({ query: { match_all: {} } });
        expect(clear.querystring).toMatchObject({ conflicts: "proceed", refresh: "true" });
        expect(await index.ping()).toBe(true);
        expect(await index.ping()).toBe(false); // no answer queued: a 404
      });

      it("takes credentials, an API key and TLS settings from configuration", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "es-ca-"));
        const caFile = path.join(dir, "ca.pem");
        fs.writeFileSync(caFile, "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n");
        try {
          const options = elasticsearchClientOptions({
            url: "https://search.internal:9200",
            index: INDEX,
            apiKey: "aWQ6a2V5",
            caFile,
            tlsRejectUnauthorized: true,
          });
          expect(options.node).toBe("https://search.internal:9200");
          expect(options.auth).toEqual({ apiKey: "aWQ6a2V5" });
          expect(options.tls?.rejectUnauthorized).toBe(true);
          expect(String(options.tls?.ca)).toContain("BEGIN CERTIFICATE");
          const plain = elasticsearchClientOptions({
            url: "http://elastic:secret@localhost:9200",
            index: INDEX,
            tlsRejectUnauthorized: true,
          });
          expect(plain.auth).toBeUndefined();
          expect(plain.tls).toBeUndefined();
          const lax = elasticsearchClientOptions({
            url: "https://localhost:9200",
            index: INDEX,
            tlsRejectUnauthorized: false,
          });
          expect(lax.tls).toEqual({ rejectUnauthorized: false });
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    });
  }
});
