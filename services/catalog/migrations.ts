import { DataTypes } from "sequelize";
import type { Migration } from "../../lib/infra/relational";

/**
 * The catalog service's own tables. Timestamps are DATETIME(3) in UTC; ids
 * are UUID v4 strings made in code; money is integer minor units
 * (`price_amount`, BIGINT) beside its currency. Attributes and images are
 * JSON text (read whole, never queried inside: search does facets).
 */
// Factories, not shared objects: Sequelize may annotate the definitions it is given.
const id = () => ({ type: DataTypes.UUID, primaryKey: true, allowNull: false });
const timestamp = (allowNull = false) => ({ type: DataTypes.DATE(3), allowNull });

export const catalogMigrations: Migration[] = [
  {
    name: "catalog-0001-create-categories",
    async up(qi) {
      await qi.createTable("categories", {
        id: id(),
        parent_id: {
          type: DataTypes.UUID,
          allowNull: true,
          references: { model: "categories", key: "id" },
          onDelete: "RESTRICT",
        },
        slug: { type: DataTypes.STRING(120), allowNull: false },
        name: { type: DataTypes.STRING(100), allowNull: false },
        position: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
        created_at: timestamp(),
        updated_at: timestamp(),
      });
      await qi.addIndex("categories", ["slug"], { name: "categories_slug_unique", unique: true });
      await qi.addIndex("categories", ["parent_id"], { name: "categories_parent_id" });
    },
    down: (qi) => qi.dropTable("categories"),
  },
  {
    name: "catalog-0002-create-products",
    async up(qi, sequelize) {
      await qi.createTable("products", {
        id: id(),
        sku: { type: DataTypes.STRING(64), allowNull: false },
        slug: { type: DataTypes.STRING(120), allowNull: false },
        name: { type: DataTypes.STRING(200), allowNull: false },
        description: { type: DataTypes.TEXT, allowNull: false },
        brand: { type: DataTypes.STRING(100), allowNull: false },
        /** Lower-cased brand: what the brand filter compares (same on SQLite and MySQL). */
        brand_key: { type: DataTypes.STRING(100), allowNull: false },
        category_id: {
          type: DataTypes.UUID,
          allowNull: false,
          references: { model: "categories", key: "id" },
          onDelete: "RESTRICT",
        },
        price_amount: { type: DataTypes.BIGINT, allowNull: false },
        price_currency: { type: DataTypes.CHAR(3), allowNull: false },
        attributes: { type: DataTypes.TEXT, allowNull: false },
        images: { type: DataTypes.TEXT, allowNull: false },
        status: { type: DataTypes.STRING(16), allowNull: false },
        version: { type: DataTypes.INTEGER, allowNull: false },
        /** Inventory's available quantity, from StockChanged; stock_version orders those messages. */
        available: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
        stock_version: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
        created_at: timestamp(),
        updated_at: timestamp(),
      });
      await qi.addIndex("products", ["sku"], { name: "products_sku_unique", unique: true });
      await qi.addIndex("products", ["slug"], { name: "products_slug_unique", unique: true });
      // The public list always filters on status; each sort has an index that starts with it.
      await qi.addIndex("products", ["status", "created_at"], { name: "products_status_created" });
      await qi.addIndex("products", ["status", "price_amount"], { name: "products_status_price" });
      // Names sort case-insensitively: MySQL's collation does it, SQLite needs NOCASE (also in the index).
      const name =
        sequelize.getDialect() === "sqlite" ? { name: "name", collate: "NOCASE" } : "name";
      await qi.addIndex("products", { fields: ["status", name], name: "products_status_name" });
      await qi.addIndex("products", ["status", "available"], {
        name: "products_status_available",
      });
      await qi.addIndex("products", ["category_id", "status"], { name: "products_category" });
      await qi.addIndex("products", ["brand_key", "status"], { name: "products_brand" });
    },
    down: (qi) => qi.dropTable("products"),
  },
  {
    name: "catalog-0003-create-category-refreshes",
    async up(qi) {
      // A category rename or move, still to be published as ProductUpdated for its subtree's
      // products: worked through in batches (after_product_id is the cursor), resumed after a crash.
      await qi.createTable("category_refreshes", {
        id: id(),
        category_id: { type: DataTypes.UUID, allowNull: false },
        after_product_id: { type: DataTypes.UUID, allowNull: true },
        created_at: timestamp(),
        updated_at: timestamp(),
        finished_at: timestamp(true),
      });
      await qi.addIndex("category_refreshes", ["finished_at", "created_at"], {
        name: "category_refreshes_pending",
      });
    },
    down: (qi) => qi.dropTable("category_refreshes"),
  },
];
