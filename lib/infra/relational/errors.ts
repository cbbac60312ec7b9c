import { UniqueConstraintError } from "sequelize";

/**
 * True only for a duplicate key (unique index or primary key). Sequelize maps
 * every SQLite constraint failure — CHECK and NOT NULL included — to
 * UniqueConstraintError, so the class alone would take a broken invariant for
 * "already there".
 */
export function isUniqueViolation(err: unknown): boolean {
  if (!(err instanceof UniqueConstraintError)) return false;
  const cause = (err as { parent?: { code?: string; message?: string } }).parent;
  if (cause?.code === "ER_DUP_ENTRY") return true; // MySQL / MariaDB
  return /UNIQUE constraint failed|PRIMARY KEY constraint failed/.test(
    cause?.message ?? err.message,
  );
}
