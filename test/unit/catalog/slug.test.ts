import {
  firstFreeSlug,
  isSuffixOf,
  isValidSlug,
  SLUG_MAX_LENGTH,
  slugify,
  withSuffix,
} from "../../../services/catalog/domain/slug";

describe("slug generation", () => {
  it("makes kebab-case ASCII from a name", () => {
    expect(slugify("Sony WH-1000XM5 Wireless Headphones")).toBe(
      "sony-wh-1000xm5-wireless-headphones",
    );
    expect(slugify("  Crème Brûlée  Torch (Blue) ")).toBe("creme-brulee-torch-blue");
    expect(slugify("Kopfhörer für Straße")).toBe("kopfhorer-fur-strasse");
    expect(slugify("Ærø Smørrebrød")).toBe("aero-smorrebrod");
    expect(slugify("Salt & Pepper + Co.")).toBe("salt-and-pepper-plus-co");
    expect(slugify("100% Cotton T-Shirt, size: XL!")).toBe("100-cotton-t-shirt-size-xl");
    expect(slugify("ＡＢＣ１２３")).toBe("abc123");
  });

  it("falls back when nothing usable is left", () => {
    expect(slugify("東京タワー")).toBe("item");
    expect(slugify("!!!", "product")).toBe("product");
    expect(slugify("")).toBe("item");
  });

  it("keeps long names to whole words, leaving room for a suffix", () => {
    const slug = slugify(`${"word ".repeat(60)}end`);
    expect(slug.length).toBeLessThanOrEqual(100);
    expect(slug).toMatch(/^(word-)*word$/);
    expect(isValidSlug(withSuffix(slug, 9999))).toBe(true);
    expect(slugify("x".repeat(300))).toBe("x".repeat(100));
  });

  it("always produces a valid slug", () => {
    for (const name of ["--a--b--", "A_B_C", "ümlaut ÜBER", "tab\tand\nnewline", "a".repeat(500)])
      expect(isValidSlug(slugify(name))).toBe(true);
  });

  it("validates given slugs", () => {
    for (const good of ["a", "blue-kettle", "x-2", "123"]) expect(isValidSlug(good)).toBe(true);
    for (const bad of ["", "Blue", "blue kettle", "-a", "a-", "a--b", "a_b", "é"])
      expect(isValidSlug(bad)).toBe(false);
    expect(isValidSlug("a".repeat(SLUG_MAX_LENGTH))).toBe(true);
    expect(isValidSlug("a".repeat(SLUG_MAX_LENGTH + 1))).toBe(false);
  });

  it("suffixes a generated slug with the first free number", () => {
    expect(firstFreeSlug("kettle", [])).toBe("kettle");
    expect(firstFreeSlug("kettle", ["kettle"])).toBe("kettle-2");
    expect(firstFreeSlug("kettle", ["kettle", "kettle-2", "kettle-4"])).toBe("kettle-3");
    expect(firstFreeSlug("kettle", ["kettle-2"])).toBe("kettle");
  });

  it("recognises which slugs a base may have produced", () => {
    expect(isSuffixOf("kettle", "kettle")).toBe(true);
    expect(isSuffixOf("kettle", "kettle-12")).toBe(true);
    expect(isSuffixOf("kettle", "kettle-blue")).toBe(false);
    expect(isSuffixOf("kettle", "kettle-0")).toBe(false);
    expect(isSuffixOf("kettle", "kettles")).toBe(false);
  });
});
