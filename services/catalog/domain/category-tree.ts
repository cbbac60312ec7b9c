import { AppError } from "../../../lib/errors";
import { isUuid } from "./ids";

/**
 * Categories form a tree (parentId null = a root). They are few (tens to a
 * few thousand), so the whole tree is loaded and walked in memory: the
 * category filter of the product list becomes a list of ids (`IN`), a
 * product's categoryPath is its category's ancestors, and a move is checked
 * for cycles before it is written.
 */
export interface CategoryRecord {
  id: string;
  parentId: string | null;
  slug: string;
  name: string;
  position: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface CategoryNode {
  id: string;
  parentId: string | null;
  slug: string;
  name: string;
  position: number;
  children: CategoryNode[];
}

export interface Crumb {
  id: string;
  slug: string;
  name: string;
}

/** `GET /categories/:idOrSlug`: the category, its subtree and its breadcrumb (root first, itself last). */
export interface CategoryDetail extends CategoryNode {
  path: Crumb[];
}

/** Deeper than this is refused; it also bounds every walk up the tree. */
export const MAX_CATEGORY_DEPTH = 10;

export class CategoryTree {
  private readonly byId = new Map<string, CategoryRecord>();
  private readonly bySlug = new Map<string, CategoryRecord>();
  private readonly childrenOf = new Map<string | null, CategoryRecord[]>();

  constructor(records: readonly CategoryRecord[]) {
    for (const record of records) {
      this.byId.set(record.id, record);
      this.bySlug.set(record.slug, record);
    }
    for (const record of records) {
      // A parent that is gone (it cannot be, with the foreign key) makes a root rather than a hole.
      const parent = record.parentId && this.byId.has(record.parentId) ? record.parentId : null;
      const siblings = this.childrenOf.get(parent) ?? [];
      siblings.push(record);
      this.childrenOf.set(parent, siblings);
    }
    for (const siblings of this.childrenOf.values()) siblings.sort(byPositionThenName);
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): CategoryRecord | undefined {
    return this.byId.get(id);
  }

  /** By id when it looks like a UUID, else by slug. */
  resolve(idOrSlug: string): CategoryRecord | undefined {
    return isUuid(idOrSlug)
      ? this.byId.get(idOrSlug.toLowerCase())
      : this.bySlug.get(idOrSlug.toLowerCase());
  }

  /** Ancestors of the category, root first, the category itself last; [] for an unknown id. */
  path(id: string): CategoryRecord[] {
    const out: CategoryRecord[] = [];
    const seen = new Set<string>();
    for (let node = this.byId.get(id); node && !seen.has(node.id);) {
      seen.add(node.id);
      out.unshift(node);
      node = node.parentId ? this.byId.get(node.parentId) : undefined;
    }
    return out;
  }

  pathIds(id: string): string[] {
    return this.path(id).map((c) => c.id);
  }

  /** The category and every category below it; [] for an unknown id. */
  subtreeIds(id: string): string[] {
    if (!this.byId.has(id)) return [];
    const out: string[] = [];
    const stack = [id];
    const seen = new Set<string>();
    while (stack.length) {
      const current = stack.pop()!;
      if (seen.has(current)) continue;
      seen.add(current);
      out.push(current);
      for (const child of this.childrenOf.get(current) ?? []) stack.push(child.id);
    }
    return out;
  }

  /** Levels from the root to the category (a root has depth 1). */
  depth(id: string): number {
    return this.path(id).length;
  }

  /** Levels below the category, itself included (a leaf has height 1). */
  height(id: string, seen = new Set<string>()): number {
    if (seen.has(id)) return 0;
    seen.add(id);
    const children = this.childrenOf.get(id) ?? [];
    return 1 + Math.max(0, ...children.map((c) => this.height(c.id, seen)));
  }

  /** The forest, children ordered by position then name. */
  roots(): CategoryNode[] {
    return (this.childrenOf.get(null) ?? []).map((c) => this.node(c));
  }

  node(category: CategoryRecord, seen = new Set<string>()): CategoryNode {
    seen.add(category.id);
    return {
      id: category.id,
      parentId: category.parentId,
      slug: category.slug,
      name: category.name,
      position: category.position,
      children: (this.childrenOf.get(category.id) ?? [])
        .filter((c) => !seen.has(c.id))
        .map((c) => this.node(c, seen)),
    };
  }

  detail(category: CategoryRecord): CategoryDetail {
    return {
      ...this.node(category),
      path: this.path(category.id).map(({ id, slug, name }) => ({ id, slug, name })),
    };
  }

  /**
   * Refuses a parent that does not exist, a move under itself or one of its
   * descendants (a cycle), and a result deeper than MAX_CATEGORY_DEPTH.
   * `categoryId` is undefined for a new category.
   */
  assertValidParent(categoryId: string | undefined, parentId: string | null): void {
    if (parentId === null) {
      if (categoryId && this.height(categoryId) > MAX_CATEGORY_DEPTH) throw tooDeep();
      return;
    }
    if (!this.byId.has(parentId))
      throw AppError.validation("Unknown parent category", [
        { field: "parentId", message: "No category has this id" },
      ]);
    if (categoryId && this.subtreeIds(categoryId).includes(parentId))
      throw AppError.validation("A category cannot move under itself or its descendants", [
        { field: "parentId", message: "Would create a cycle" },
      ]);
    const height = categoryId ? this.height(categoryId) : 1;
    if (this.depth(parentId) + height > MAX_CATEGORY_DEPTH) throw tooDeep();
  }
}

function tooDeep(): AppError {
  return AppError.validation(`Categories nest at most ${MAX_CATEGORY_DEPTH} levels deep`, [
    { field: "parentId", message: "Too deep" },
  ]);
}

function byPositionThenName(a: CategoryRecord, b: CategoryRecord): number {
  return a.position - b.position || a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
}
