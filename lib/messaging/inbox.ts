import { DataTypes, QueryTypes, Sequelize, Transaction } from "sequelize";
import type { Migration, RelationalDatabase } from "../infra/relational";
import type { MessageEnvelope } from "./envelope";
import { isUniqueViolation } from "../infra/relational/errors";

/**
 * Inbox: the processed-message table that makes a consumer idempotent. The
 * consumer records the message id in the same transaction as its effect, so
 * either both commit or neither does; a redelivered message finds its row
 * and is skipped.
 */

export const INBOX_TABLE = "processed_messages";

export const inboxMigrations: Migration[] = [
  {
    name: "platform-0002-inbox-processed-messages",
    async up(qi) {
      await qi.createTable(INBOX_TABLE, {
        consumer: { type: DataTypes.STRING(100), allowNull: false, primaryKey: true },
        message_id: { type: DataTypes.STRING(64), allowNull: false, primaryKey: true },
        /** Epoch milliseconds. */
        processed_at: { type: DataTypes.BIGINT, allowNull: false },
      });
      await qi.addIndex(INBOX_TABLE, ["processed_at"], { name: "processed_messages_processed_at" });
    },
    async down(qi) {
      await qi.dropTable(INBOX_TABLE);
    },
  },
];

/**
 * Records that `consumer` processed `messageId`, inside `tx`. True the first
 * time; false when it was already recorded (by a committed transaction, or by
 * a concurrent one that then commits: the insert waits for its lock).
 */
export async function processOnce(
  tx: Transaction,
  consumer: string,
  messageId: string,
): Promise<boolean> {
  // Every Transaction knows its Sequelize instance; the typings do not say so.
  const { sequelize } = tx as unknown as { sequelize: Sequelize };
  try {
    await sequelize.query(
      `INSERT INTO ${INBOX_TABLE} (consumer, message_id, processed_at) VALUES (?, ?, ?)`,
      { replacements: [consumer, messageId, Date.now()], transaction: tx, type: QueryTypes.INSERT },
    );
    return true;
  } catch (err) {
    // A failed INSERT leaves the transaction usable on MySQL and SQLite.
    if (isUniqueViolation(err)) return false;
    throw err;
  }
}

/**
 * Runs `fn` in a transaction together with the inbox row, only the first time
 * `consumer` sees this envelope. Returns fn's result, or undefined for a
 * duplicate.
 */
export function handleOnce<T>(
  db: RelationalDatabase,
  consumer: string,
  envelope: Pick<MessageEnvelope, "id">,
  fn: (tx: Transaction) => Promise<T>,
): Promise<T | undefined> {
  return db.transaction(async (tx) =>
    (await processOnce(tx, consumer, envelope.id)) ? fn(tx) : undefined,
  );
}
