import { DataTypes } from "sequelize";
import type { Migration } from "../../lib/infra/relational";

/**
 * The users service's own tables. Timestamps are DATETIME(3) in UTC (the
 * connection's time zone is +00:00); ids are UUID v4 strings made in code.
 */
// Factories, not shared objects: Sequelize may annotate the definitions it is given.
const id = () => ({ type: DataTypes.UUID, primaryKey: true, allowNull: false });
const timestamp = (allowNull = false) => ({ type: DataTypes.DATE(3), allowNull });
const userReference = () => ({
  type: DataTypes.UUID,
  allowNull: false,
  references: { model: "users", key: "id" },
  onDelete: "CASCADE",
});
const tokenHash = () => ({ type: DataTypes.CHAR(64), allowNull: false, unique: true });

export const usersMigrations: Migration[] = [
  {
    name: "users-0001-create-users",
    async up(qi) {
      await qi.createTable("users", {
        id: id(),
        email: { type: DataTypes.STRING(254), allowNull: false, unique: true },
        password_hash: { type: DataTypes.STRING(255), allowNull: false },
        name: { type: DataTypes.STRING(100), allowNull: false },
        phone: { type: DataTypes.STRING(32), allowNull: true },
        role: { type: DataTypes.STRING(16), allowNull: false, defaultValue: "customer" },
        email_verified: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
        created_at: timestamp(),
        updated_at: timestamp(),
      });
    },
    down: (qi) => qi.dropTable("users"),
  },
  {
    name: "users-0002-create-addresses",
    async up(qi) {
      await qi.createTable("addresses", {
        id: id(),
        user_id: userReference(),
        name: { type: DataTypes.STRING(100), allowNull: false },
        line1: { type: DataTypes.STRING(200), allowNull: false },
        line2: { type: DataTypes.STRING(200), allowNull: true },
        city: { type: DataTypes.STRING(100), allowNull: false },
        postal_code: { type: DataTypes.STRING(20), allowNull: false },
        country: { type: DataTypes.CHAR(2), allowNull: false },
        phone: { type: DataTypes.STRING(32), allowNull: true },
        is_default: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
        created_at: timestamp(),
        updated_at: timestamp(),
      });
      await qi.addIndex("addresses", ["user_id"], { name: "addresses_user_id" });
    },
    down: (qi) => qi.dropTable("addresses"),
  },
  {
    name: "users-0003-create-refresh-tokens",
    async up(qi) {
      await qi.createTable("refresh_tokens", {
        id: id(),
        user_id: userReference(),
        family_id: { type: DataTypes.UUID, allowNull: false },
        token_hash: tokenHash(),
        expires_at: timestamp(),
        used_at: timestamp(true),
        revoked_at: timestamp(true),
        created_at: timestamp(),
      });
      await qi.addIndex("refresh_tokens", ["family_id"], { name: "refresh_tokens_family_id" });
      await qi.addIndex("refresh_tokens", ["user_id"], { name: "refresh_tokens_user_id" });
    },
    down: (qi) => qi.dropTable("refresh_tokens"),
  },
  {
    name: "users-0004-create-password-reset-tokens",
    async up(qi) {
      await qi.createTable("password_reset_tokens", {
        id: id(),
        user_id: userReference(),
        token_hash: tokenHash(),
        expires_at: timestamp(),
        used_at: timestamp(true),
        created_at: timestamp(),
      });
      await qi.addIndex("password_reset_tokens", ["user_id"], {
        name: "password_reset_tokens_user_id",
      });
    },
    down: (qi) => qi.dropTable("password_reset_tokens"),
  },
];
