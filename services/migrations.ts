import type { Migration } from "../lib/infra/relational";
import { inboxMigrations } from "../lib/messaging/inbox";
import { outboxMigrations } from "../lib/messaging/outbox";
import { catalogMigrations } from "./catalog/migrations";
import { inventoryMigrations } from "./inventory/migrations";
import { notificationsMigrations } from "./notifications/migrations";
import { deadLetterMigrations } from "./ops/dead-letter-store";
import { ordersMigrations } from "./orders/migrations";
import { paymentsMigrations } from "./payments/migrations";
import { usersMigrations } from "./users/migrations";

/**
 * Every service's migrations, in the order they apply. The services' own
 * DatabaseMixin and `npm run migrate` read this one list.
 */
export const serviceMigrations: Record<string, Migration[]> = {
  users: [...outboxMigrations, ...usersMigrations],
  deadletters: deadLetterMigrations,
  inventory: [...outboxMigrations, ...inboxMigrations, ...inventoryMigrations],
  catalog: [...outboxMigrations, ...catalogMigrations],
  orders: [...outboxMigrations, ...inboxMigrations, ...ordersMigrations],
  payments: [...outboxMigrations, ...inboxMigrations, ...paymentsMigrations],
  notifications: [...inboxMigrations, ...notificationsMigrations],
};
