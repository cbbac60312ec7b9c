import { DataTypes, Op } from "sequelize";
import type { Migration } from "../../lib/infra/relational";
import { mediumText } from "../../lib/messaging/sql-types";

/**
 * The notifications service's own table: the delivery log. Times are epoch
 * milliseconds (BIGINT), like the outbox's, so comparisons mean the same on
 * SQLite and MySQL. The primary key is the notification id derived from the
 * message that caused it (domain/notification-id.ts): inserting it twice is
 * what a redelivered event cannot do.
 */
const TABLE = "notifications";

export const notificationsMigrations: Migration[] = [
  {
    name: "notifications-0001-create-notifications",
    async up(qi, sequelize) {
      await qi.createTable(TABLE, {
        id: { type: DataTypes.STRING(36).BINARY, allowNull: false, primaryKey: true },
        user_id: { type: DataTypes.STRING(64).BINARY, allowNull: true },
        channel: { type: DataTypes.STRING(8), allowNull: false },
        template: { type: DataTypes.STRING(64), allowNull: false },
        /** Email address or phone number. */
        recipient: { type: DataTypes.STRING(320), allowNull: false },
        subject: { type: DataTypes.STRING(500), allowNull: true },
        /** JSON template fields without secrets (see notification.use-cases.ts). */
        data: { type: mediumText(sequelize), allowNull: false },
        status: { type: DataTypes.STRING(16), allowNull: false },
        /** Send attempts started. */
        attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
        last_error: { type: DataTypes.TEXT, allowNull: true },
        cause_message_id: { type: DataTypes.STRING(64), allowNull: false },
        event_type: { type: DataTypes.STRING(100), allowNull: false },
        created_at: { type: DataTypes.BIGINT, allowNull: false },
        updated_at: { type: DataTypes.BIGINT, allowNull: false },
        sent_at: { type: DataTypes.BIGINT, allowNull: true },
      });
      await qi.addConstraint(TABLE, {
        type: "check",
        name: "notifications_status_ck",
        fields: ["status"],
        where: { status: { [Op.in]: ["queued", "sending", "sent", "failed"] } },
      });
      // The delivery log lists newest first, optionally by status or user.
      await qi.addIndex(TABLE, ["created_at"], { name: "notifications_created_at" });
      await qi.addIndex(TABLE, ["status", "updated_at"], { name: "notifications_status" });
      await qi.addIndex(TABLE, ["user_id", "created_at"], { name: "notifications_user" });
    },
    async down(qi) {
      await qi.dropTable(TABLE);
    },
  },
];
