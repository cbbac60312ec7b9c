import { DataTypes, Sequelize } from "sequelize";

/** Up to 16 MB on MySQL (TEXT stops at 64 KB); plain TEXT on SQLite, which has no sizes (and warns). */
export function mediumText(sequelize: Sequelize) {
  return sequelize.getDialect() === "mysql" ? DataTypes.TEXT("medium") : DataTypes.TEXT;
}
