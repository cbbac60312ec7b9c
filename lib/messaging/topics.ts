/**
 * The durable channels of the system (ARCHITECTURE §4) and the event types
 * they carry. Topic names are the seed's; the adapter adds CHANNELS_PREFIX
 * on the wire (e.g. `commerce.orders.events`).
 */
export const Topics = {
  UserEvents: "user.events",
  ProductEvents: "product.events",
  CartEvents: "cart.events",
  OrdersCommands: "orders.commands",
  OrdersEvents: "orders.events",
  InventoryCommands: "inventory.commands",
  InventoryEvents: "inventory.events",
  PaymentsCommands: "payments.commands",
  PaymentsEvents: "payments.events",
  NotificationsCommands: "notifications.commands",
} as const;

export type Topic = (typeof Topics)[keyof typeof Topics];

/** Every topic, in a stable order (the dead-letters service consumes each one's DLQ). */
export const ALL_TOPICS: readonly Topic[] = Object.values(Topics);

/** Where a message goes after it failed CHANNELS_MAX_RETRIES times. */
export function dlqTopic<T extends string>(topic: T): `${T}.dlq` {
  return `${topic}.dlq`;
}

export function isTopic(name: string): name is Topic {
  return (ALL_TOPICS as readonly string[]).includes(name);
}

/** Message type names: `<Entity><PastTense>` for events, `<Verb><Entity>` for commands. */
export const EventTypes = {
  UserRegistered: "UserRegistered",
  PasswordResetRequested: "PasswordResetRequested",
  // product.events (catalog; StockChanged comes from inventory)
  ProductCreated: "ProductCreated",
  ProductUpdated: "ProductUpdated",
  ProductArchived: "ProductArchived",
  StockChanged: "StockChanged",
  // inventory.events (answers to inventory.commands)
  StockReserved: "StockReserved",
  StockRejected: "StockRejected",
  StockCommitted: "StockCommitted",
  StockReleased: "StockReleased",
  StockReturned: "StockReturned",
  // cart.events
  CartItemAdded: "CartItemAdded",
  CartItemRemoved: "CartItemRemoved",
  CartMerged: "CartMerged",
  CartCleared: "CartCleared",
  CartConverted: "CartConverted",
  // orders.events
  OrderCreated: "OrderCreated",
  OrderConfirmed: "OrderConfirmed",
  OrderCancelled: "OrderCancelled",
  OrderShipped: "OrderShipped",
  OrderDelivered: "OrderDelivered",
  // payments.events
  PaymentPending: "PaymentPending",
  PaymentSucceeded: "PaymentSucceeded",
  PaymentFailed: "PaymentFailed",
  PaymentRefunded: "PaymentRefunded",
} as const;

/** Commands on `inventory.commands`. */
export const InventoryCommandTypes = {
  ReserveStock: "ReserveStock",
  CommitStock: "CommitStock",
  ReleaseStock: "ReleaseStock",
  /** Puts the stock of a COMMITTED reservation back (an order cancelled after it was confirmed). */
  ReturnStock: "ReturnStock",
} as const;

/** Commands on `payments.commands` (sent by the orders saga). */
export const PaymentCommandTypes = {
  ProcessPayment: "ProcessPayment",
  RefundPayment: "RefundPayment",
} as const;

/** Commands on `notifications.commands` (other services and operators). */
export const NotificationCommandTypes = {
  SendNotification: "SendNotification",
} as const;

export type EventType = (typeof EventTypes)[keyof typeof EventTypes];
