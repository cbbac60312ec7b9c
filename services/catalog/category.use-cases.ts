import { randomUUID } from "node:crypto";
import type { Transaction } from "sequelize";
import { AppError } from "../../lib/errors";
import { CategoryDetail, CategoryNode, CategoryRecord, CategoryTree } from "./domain/category-tree";
import { firstFreeSlug, slugify } from "./domain/slug";
import type { CategoryRefresher } from "./category-refresher";
import { CatalogDependencies, withSlugRetry } from "./use-case-support";

/**
 * Categories: the public tree, one category with its breadcrumb, and admin
 * create / update. Tree edits lock every category row first (MySQL), so two
 * concurrent moves cannot together make a cycle that each alone would not.
 * A rename or move changes the snapshot of every product below (categoryName,
 * categoryPath): it records a refresh that CategoryRefresher works through.
 */
export interface NewCategoryInput {
  name: string;
  slug?: string;
  parentId?: string | null;
  position?: number;
}

export type CategoryChanges = Partial<NewCategoryInput>;

export class CategoryUseCases {
  private readonly now: () => Date;

  constructor(
    private readonly deps: CatalogDependencies,
    private readonly refresher: Pick<CategoryRefresher, "kick">,
  ) {
    this.now = deps.clock ?? (() => new Date());
  }

  async tree(): Promise<CategoryNode[]> {
    return (await this.loadTree()).roots();
  }

  async detail(idOrSlug: string): Promise<CategoryDetail> {
    const tree = await this.loadTree();
    const category = tree.resolve(idOrSlug.trim());
    if (!category) throw AppError.notFound("Category");
    return tree.detail(category);
  }

  async create(input: NewCategoryInput): Promise<CategoryDetail> {
    const name = input.name.trim();
    const parentId = input.parentId?.toLowerCase() ?? null;
    const record = await withSlugRetry("category", input.slug === undefined, () =>
      this.deps.database.transaction(async (tx) => {
        const tree = await this.loadTree(tx, true);
        tree.assertValidParent(undefined, parentId);
        const now = this.now();
        const category: CategoryRecord = {
          id: randomUUID(),
          parentId,
          slug: input.slug ?? (await this.freeSlug(name, tx)),
          name,
          position: input.position ?? 0,
          createdAt: now,
          updatedAt: now,
        };
        await this.deps.repository.insertCategory(category, tx);
        return category;
      }),
    );
    await this.deps.changed();
    return this.detail(record.id);
  }

  async update(id: string, changes: CategoryChanges): Promise<CategoryDetail> {
    const outcome = await withSlugRetry("category", false, () =>
      this.deps.database.transaction(async (tx) => {
        const tree = await this.loadTree(tx, true);
        const category = tree.get(id.toLowerCase());
        if (!category) throw AppError.notFound("Category");
        const diff = categoryDiff(category, changes);
        if (diff.parentId !== undefined) tree.assertValidParent(category.id, diff.parentId);
        if (!Object.keys(diff).length) return { changed: false, refresh: undefined };
        await this.deps.repository.updateCategory(
          category.id,
          { ...diff, updatedAt: this.now() },
          tx,
        );
        // Products below carry categoryName and categoryPath: tell their consumers.
        if (diff.name === undefined && diff.parentId === undefined)
          return { changed: true, refresh: undefined };
        const refresh = randomUUID();
        const now = this.now();
        await this.deps.repository.insertRefresh(
          {
            id: refresh,
            categoryId: category.id,
            afterProductId: null,
            createdAt: now,
            updatedAt: now,
            finishedAt: null,
          },
          tx,
        );
        return { changed: true, refresh };
      }),
    );
    if (outcome.changed) await this.deps.changed();
    if (outcome.refresh) this.refresher.kick();
    return this.detail(id.toLowerCase());
  }

  private async loadTree(tx?: Transaction, lock = false): Promise<CategoryTree> {
    if (!tx && this.deps.readTree) return this.deps.readTree();
    return new CategoryTree(await this.deps.repository.loadCategories(tx, lock));
  }

  private async freeSlug(name: string, tx: Transaction): Promise<string> {
    const base = slugify(name, "category");
    return firstFreeSlug(base, await this.deps.repository.categorySlugsLike(base, tx));
  }
}

type CategoryDiff = Partial<Pick<CategoryRecord, "name" | "slug" | "parentId" | "position">>;

function categoryDiff(category: CategoryRecord, changes: CategoryChanges): CategoryDiff {
  const diff: CategoryDiff = {};
  if (changes.name !== undefined && changes.name.trim() !== category.name)
    diff.name = changes.name.trim();
  if (changes.slug !== undefined && changes.slug !== category.slug) diff.slug = changes.slug;
  if (changes.position !== undefined && changes.position !== category.position)
    diff.position = changes.position;
  if (changes.parentId !== undefined) {
    const parentId = changes.parentId?.toLowerCase() ?? null;
    if (parentId !== category.parentId) diff.parentId = parentId;
  }
  return diff;
}
