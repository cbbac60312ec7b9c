import { CachedSearchIndex } from "../../services/search/cached-index";
import type { SearchQuery } from "../../services/search/index-port";
import { MiniSearchIndex } from "../../services/search/minisearch-index";
import { CATALOG_DOCS, doc, STOCK } from "../helpers/search-fixtures";

describe("search result memo", () => {
  let inner: MiniSearchIndex;
  let index: CachedSearchIndex;
  let computed: jest.SpyInstance;

  beforeEach(async () => {
    inner = new MiniSearchIndex();
    await inner.open();
    await inner.upsert(CATALOG_DOCS);
    await inner.applyStock(STOCK);
    index = new CachedSearchIndex(inner, 60_000);
    computed = jest.spyOn(inner, "query");
  });
  afterEach(() => index.close());

  const first = CATALOG_DOCS[0];
  const ask = (q: string, pageSize = 20): SearchQuery => ({ q, page: 1, pageSize });

  it("answers a repeated query from memory, and shares one computation between concurrent ones", async () => {
    const [a, b] = await Promise.all([index.query(ask(first.name)), index.query(ask(first.name))]);
    const c = await index.query(ask(first.name));
    expect(computed).toHaveBeenCalledTimes(1);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    await index.query(ask(first.name, 5));
    expect(computed).toHaveBeenCalledTimes(2);
  });

  it("forgets everything on a write, so a change is searchable at once", async () => {
    expect((await index.query(ask("Zebracorn"))).total).toBe(0);
    await index.upsert([
      doc(first.id, { name: "Zebracorn Deluxe", productVersion: first.productVersion + 1 }),
    ]);
    expect((await index.query(ask("Zebracorn"))).total).toBe(1);
  });

  it("expires an answer after its time", async () => {
    const short = new CachedSearchIndex(inner, 20);
    await short.query(ask(first.name));
    await new Promise((r) => setTimeout(r, 30));
    await short.query(ask(first.name));
    expect(computed).toHaveBeenCalledTimes(2);
  });

  it("does not remember a failed query", async () => {
    computed.mockRejectedValueOnce(new Error("index down"));
    await expect(index.query(ask(first.name))).rejects.toThrow("index down");
    expect((await index.query(ask(first.name))).total).toBeGreaterThan(0);
  });
});
