import { randomUUID } from "node:crypto";
import {
  CategoryRecord,
  CategoryTree,
  MAX_CATEGORY_DEPTH,
} from "../../../services/catalog/domain/category-tree";

function category(
  slug: string,
  parent?: CategoryRecord,
  position = 0,
  name = slug[0].toUpperCase() + slug.slice(1),
): CategoryRecord {
  const now = new Date();
  return {
    id: randomUUID(),
    parentId: parent?.id ?? null,
    slug,
    name,
    position,
    createdAt: now,
    updatedAt: now,
  };
}

describe("category tree", () => {
  const electronics = category("electronics", undefined, 1);
  const home = category("home", undefined, 0);
  const audio = category("audio", electronics, 1);
  const phones = category("phones", electronics, 0, "Phones");
  const cameras = category("cameras", electronics, 0, "Cameras");
  const headphones = category("headphones", audio);
  const earbuds = category("earbuds", headphones);
  const records = [earbuds, headphones, audio, phones, cameras, home, electronics];
  const tree = new CategoryTree(records);

  it("gives a category's path, root first, itself last", () => {
    expect(tree.pathIds(earbuds.id)).toEqual([electronics.id, audio.id, headphones.id, earbuds.id]);
    expect(tree.pathIds(home.id)).toEqual([home.id]);
    expect(tree.pathIds(randomUUID())).toEqual([]);
    expect(tree.depth(earbuds.id)).toBe(4);
  });

  it("gives a category's subtree, itself included", () => {
    expect(new Set(tree.subtreeIds(audio.id))).toEqual(
      new Set([audio.id, headphones.id, earbuds.id]),
    );
    expect(tree.subtreeIds(electronics.id)).toHaveLength(6);
    expect(tree.subtreeIds(earbuds.id)).toEqual([earbuds.id]);
    expect(tree.subtreeIds(randomUUID())).toEqual([]);
    expect(tree.height(electronics.id)).toBe(4);
  });

  it("resolves ids and slugs", () => {
    expect(tree.resolve(audio.id)).toBe(audio);
    expect(tree.resolve(audio.id.toUpperCase())).toBe(audio);
    expect(tree.resolve("audio")).toBe(audio);
    expect(tree.resolve("AUDIO")).toBe(audio);
    expect(tree.resolve("nothing")).toBeUndefined();
  });

  it("nests children ordered by position, then name", () => {
    const roots = tree.roots();
    expect(roots.map((c) => c.slug)).toEqual(["home", "electronics"]);
    expect(roots[1].children.map((c) => c.slug)).toEqual(["cameras", "phones", "audio"]);
    expect(roots[1].children[2].children[0].children.map((c) => c.slug)).toEqual(["earbuds"]);
  });

  it("describes a category with its subtree and breadcrumb", () => {
    const detail = tree.detail(headphones);
    expect(detail.path).toEqual([
      { id: electronics.id, slug: "electronics", name: "Electronics" },
      { id: audio.id, slug: "audio", name: "Audio" },
      { id: headphones.id, slug: "headphones", name: "Headphones" },
    ]);
    expect(detail.children.map((c) => c.id)).toEqual([earbuds.id]);
  });

  describe("moves", () => {
    const field = (fn: () => void) => {
      try {
        fn();
      } catch (err) {
        return (err as { code: number; data: { details: { field: string }[] } }).data.details[0]
          .field;
      }
      return undefined;
    };

    it("accepts a move elsewhere or to the top", () => {
      expect(() => tree.assertValidParent(headphones.id, home.id)).not.toThrow();
      expect(() => tree.assertValidParent(headphones.id, null)).not.toThrow();
      expect(() => tree.assertValidParent(undefined, earbuds.id)).not.toThrow();
    });

    it("refuses a cycle: under itself or any of its descendants", () => {
      for (const target of [audio, headphones, earbuds])
        expect(() => tree.assertValidParent(audio.id, target.id)).toThrow(
          expect.objectContaining({ code: 400, message: expect.stringMatching(/itself/) }),
        );
      expect(field(() => tree.assertValidParent(audio.id, earbuds.id))).toBe("parentId");
    });

    it("refuses an unknown parent", () => {
      expect(field(() => tree.assertValidParent(undefined, randomUUID()))).toBe("parentId");
    });

    it("refuses trees deeper than the limit", () => {
      const chain: CategoryRecord[] = [];
      for (let i = 0; i < MAX_CATEGORY_DEPTH; i++) chain.push(category(`level-${i}`, chain[i - 1]));
      const deep = new CategoryTree([...chain, ...records]);
      expect(() =>
        deep.assertValidParent(undefined, chain[MAX_CATEGORY_DEPTH - 2].id),
      ).not.toThrow();
      expect(field(() => deep.assertValidParent(undefined, chain[MAX_CATEGORY_DEPTH - 1].id))).toBe(
        "parentId",
      );
      // Moving a 4-level subtree under level 7 would make 11 levels.
      expect(field(() => deep.assertValidParent(electronics.id, chain[6].id))).toBe("parentId");
    });
  });

  it("survives a cycle in stored data without looping", () => {
    const a = category("a");
    const b = category("b", a);
    a.parentId = b.id;
    const broken = new CategoryTree([a, b]);
    expect(broken.pathIds(a.id)).toEqual([b.id, a.id]);
    expect(broken.subtreeIds(a.id).sort()).toEqual([a.id, b.id].sort());
    expect(broken.roots()).toEqual([]);
    expect(broken.detail(a).children[0].children).toEqual([]);
  });
});
