import type { Money } from "../../lib/contracts/catalog";
import {
  NOTIFICATION_TEMPLATES,
  NotificationChannel,
  NotificationTemplate,
  SendNotificationCommand,
} from "../../lib/contracts/notifications";
import {
  CancelReason,
  OrderEventPayload,
  OrderLine,
  orderReference,
  PaymentEventPayload,
  PaymentMethodType,
  Receipt,
} from "../../lib/contracts/orders";
import type { MessageEnvelope } from "../../lib/messaging/envelope";
import { EventTypes, NotificationCommandTypes, Topic, Topics } from "../../lib/messaging/topics";
import { notificationId } from "./domain/notification-id";
import { isEmailAddress, normalizePhone } from "./domain/recipients";
import type { TemplateRenderer } from "./templates";

/**
 * Turns one message into the notifications it causes: which template, to
 * whom, on which channels (email always, SMS when the template has one and
 * the user has a phone number), with which template fields. The lookups it
 * needs (the user, product names, the receipt) go through a Directory, so
 * this module knows the messages, not Moleculer.
 */

export interface Recipient {
  userId: string | null;
  email: string;
  name: string;
  phone: string | null;
}

export interface ProductInfo {
  name: string;
  price: Money;
}

export interface Directory {
  /** undefined when there is no such user (any more). */
  user(userId: string): Promise<Recipient | undefined>;
  /** Names and prices by product id; undefined when the catalog cannot be asked. */
  products(ids: string[]): Promise<Map<string, ProductInfo> | undefined>;
  /** The payment's receipt; undefined when payments has none or does not run. */
  receipt(orderId: string, userId: string): Promise<Receipt | undefined>;
}

export interface PlannedNotification {
  /** Derived from the cause (domain/notification-id.ts). */
  id: string;
  userId: string | null;
  channel: NotificationChannel;
  template: NotificationTemplate;
  /** Email address, or phone number for sms. */
  recipient: string;
  /** Template fields that may be stored (no secrets). */
  data: Record<string, unknown>;
  /** Template fields that must never be stored or logged (the reset link). */
  secrets?: Record<string, string>;
  causeMessageId: string;
  eventType: string;
}

/** A message that cannot be turned into notifications: it goes to the DLQ for an operator. */
export class InvalidNotificationMessageError extends Error {
  override readonly name = "InvalidNotificationMessageError";
}

/** What a skipped message logs (a user deleted since the event, an unknown type…). */
export type PlanResult =
  { kind: "planned"; notifications: PlannedNotification[] } | { kind: "ignored"; reason: string };

const CANCEL_REASONS: Record<CancelReason, string> = {
  OUT_OF_STOCK: "some of its items are out of stock",
  PAYMENT_DECLINED: "the payment was declined",
  PAYMENT_TIMEOUT: "the payment did not arrive in time",
  CUSTOMER_REQUEST: "you asked us to",
  RESERVATION_EXPIRED: "its items could not be held any longer",
};

const PAYMENT_METHODS: Record<PaymentMethodType, string> = {
  card: "Card",
  cash_on_delivery: "Cash on delivery",
  bank_transfer: "Bank transfer",
};

const MAX_NOTIFICATION_KEY = 200;

export class NotificationPlanner {
  constructor(
    private readonly directory: Directory,
    private readonly renderer: TemplateRenderer,
  ) {}

  plan(topic: Topic, envelope: MessageEnvelope<unknown>): Promise<PlanResult> {
    const payload = (envelope.payload ?? {}) as Record<string, unknown>;
    switch (`${topic}/${envelope.type}`) {
      case `${Topics.UserEvents}/${EventTypes.UserRegistered}`:
        return this.welcome(envelope, payload);
      case `${Topics.UserEvents}/${EventTypes.PasswordResetRequested}`:
        return this.passwordReset(envelope, payload);
      case `${Topics.OrdersEvents}/${EventTypes.OrderConfirmed}`:
        return this.order(envelope, payload, "order-confirmed");
      case `${Topics.OrdersEvents}/${EventTypes.OrderCancelled}`:
        return this.order(envelope, payload, "order-cancelled");
      case `${Topics.OrdersEvents}/${EventTypes.OrderShipped}`:
        return this.order(envelope, payload, "order-shipped");
      case `${Topics.PaymentsEvents}/${EventTypes.PaymentSucceeded}`:
        return this.receipt(envelope, payload);
      case `${Topics.NotificationsCommands}/${NotificationCommandTypes.SendNotification}`:
        return this.command(envelope, payload);
      default:
        return Promise.resolve({ kind: "ignored", reason: `nothing to send for ${envelope.type}` });
    }
  }

  /** Email only: an account that was just created has no phone number yet. */
  private async welcome(envelope: MessageEnvelope<unknown>, payload: Record<string, unknown>) {
    const to: Recipient = {
      userId: text(payload, "userId"),
      email: text(payload, "email"),
      name: text(payload, "name"),
      phone: null,
    };
    return this.toRecipient(envelope, to, "welcome", { name: to.name });
  }

  /**
   * Email only, to the address the request named: the reset proves the
   * customer reads that mailbox. The link carries the token: a secret, sent
   * but never stored.
   */
  private async passwordReset(
    envelope: MessageEnvelope<unknown>,
    payload: Record<string, unknown>,
  ) {
    const to: Recipient = {
      userId: text(payload, "userId"),
      email: text(payload, "email"),
      name: text(payload, "name"),
      phone: null,
    };
    const data = { name: to.name, expiresAt: text(payload, "expiresAt") };
    // Sealed by users for this notification; the send job opens it (domain/secrets.ts).
    const resetLink = text(payload, "sealedResetLink");
    return this.toRecipient(envelope, to, "password-reset", data, { resetLink });
  }

  private async order(
    envelope: MessageEnvelope<unknown>,
    payload: Record<string, unknown>,
    template: "order-confirmed" | "order-cancelled" | "order-shipped",
  ): Promise<PlanResult> {
    const order = payload as Partial<OrderEventPayload>;
    const orderId = text(payload, "orderId");
    const to = await this.directory.user(text(payload, "userId"));
    if (!to) return { kind: "ignored", reason: `user of order ${orderId} not found` };
    const total = money(order.total, "total");
    const data = {
      name: to.name,
      orderId,
      orderRef: orderReference(orderId),
      lines: await this.orderLines(order.lines),
      total,
      reason:
        template === "order-cancelled"
          ? (CANCEL_REASONS[order.cancelReason as CancelReason] ?? "it could not be completed")
          : null,
      trackingNumber: order.trackingNumber ?? null,
    };
    return this.toRecipient(envelope, to, template, data);
  }

  /**
   * The receipt the event carries, else the one payments keeps (events
   * written before they carried it); without one, the event says enough for
   * a short receipt.
   */
  private async receipt(
    envelope: MessageEnvelope<unknown>,
    payload: Record<string, unknown>,
  ): Promise<PlanResult> {
    const payment = payload as Partial<PaymentEventPayload>;
    const orderId = text(payload, "orderId");
    const userId = text(payload, "userId");
    const to = await this.directory.user(userId);
    if (!to) return { kind: "ignored", reason: `user of order ${orderId} not found` };
    const receipt =
      carriedReceipt(payment.receipt, orderId, userId) ??
      (await this.directory.receipt(orderId, userId));
    const method = receipt?.method ?? payment.method;
    const data = {
      name: to.name,
      orderId,
      orderRef: orderReference(orderId),
      receiptNumber: receipt?.receiptNumber ?? text(payload, "paymentId"),
      paymentId: receipt?.paymentId ?? text(payload, "paymentId"),
      paidAt: receipt?.paidAt ?? envelope.occurredAt,
      method: (method && PAYMENT_METHODS[method]) ?? String(method ?? "unknown"),
      providerReference: receipt?.providerReference ?? payment.providerReference ?? null,
      lines: (receipt?.lines ?? []).map((line) => ({
        productId: line.productId,
        name: line.name,
        quantity: line.quantity,
        unitPrice: line.unitPrice,
        lineTotal: line.lineTotal,
      })),
      total: receipt?.total ?? money(payment.amount, "amount"),
    };
    return this.toRecipient(envelope, to, "payment-receipt", data);
  }

  /** SendNotification: the sender chose template, channel and address; the key is the cause. */
  private async command(
    envelope: MessageEnvelope<unknown>,
    payload: Record<string, unknown>,
  ): Promise<PlanResult> {
    const command = payload as Partial<SendNotificationCommand>;
    const key = text(payload, "notificationKey");
    if (key.length > MAX_NOTIFICATION_KEY)
      throw invalid(`notificationKey is longer than ${MAX_NOTIFICATION_KEY} characters`);
    const template = command.template as NotificationTemplate;
    if (!NOTIFICATION_TEMPLATES.includes(template))
      throw invalid(`template must be one of ${NOTIFICATION_TEMPLATES.join(", ")}`);
    const channel = command.channel;
    if (channel !== "email" && channel !== "sms") throw invalid("channel must be email or sms");
    if (!this.renderer.supports(template, channel))
      throw invalid(`template ${template} has no ${channel} version`);
    const to = text(payload, "to");
    const recipient = channel === "email" ? to : normalizePhone(to);
    if (!recipient || (channel === "email" && !isEmailAddress(to)))
      throw invalid(`to is not ${channel === "email" ? "an email address" : "a phone number"}`);
    const data = command.data;
    if (typeof data !== "object" || data === null || Array.isArray(data))
      throw invalid("data must be an object of template fields");
    const userId = typeof command.userId === "string" && command.userId ? command.userId : null;
    return {
      kind: "planned",
      notifications: [
        {
          id: notificationId(key, template, channel),
          userId,
          channel,
          template,
          recipient,
          data,
          causeMessageId: envelope.id,
          eventType: envelope.type,
        },
      ],
    };
  }

  /** The email, plus a text message when the template has one and the user a usable number. */
  private async toRecipient(
    envelope: MessageEnvelope<unknown>,
    to: Recipient,
    template: NotificationTemplate,
    data: Record<string, unknown>,
    secrets?: Record<string, string>,
  ): Promise<PlanResult> {
    const base = {
      userId: to.userId,
      template,
      data,
      causeMessageId: envelope.id,
      eventType: envelope.type,
      ...(secrets ? { secrets } : {}),
    };
    const notifications: PlannedNotification[] = [];
    if (isEmailAddress(to.email)) {
      notifications.push({
        ...base,
        id: notificationId(envelope.id, template, "email"),
        channel: "email",
        recipient: to.email,
      });
    }
    const phone = to.phone ? normalizePhone(to.phone) : undefined;
    if (phone && this.renderer.supports(template, "sms")) {
      notifications.push({
        ...base,
        id: notificationId(envelope.id, template, "sms"),
        channel: "sms",
        recipient: phone,
      });
    }
    if (!notifications.length) return { kind: "ignored", reason: "the user has no usable address" };
    return { kind: "planned", notifications };
  }

  /**
   * The lines as the event tells them: as ordered, at the prices paid. Older
   * events name only products and quantities: their names and prices come
   * from the catalog (today's), and an unknown product keeps its id.
   */
  private async orderLines(lines: unknown) {
    if (!Array.isArray(lines)) throw invalid("lines must be a list");
    if (lines.every(isWholeLine))
      return lines.map((line) => ({
        productId: line.productId,
        name: line.name,
        quantity: line.quantity,
        unitPrice: line.unitPrice,
        lineTotal: line.lineTotal,
      }));
    const products = await this.directory.products(lines.map((line) => line.productId));
    return lines.map((line) => {
      const product = products?.get(line.productId);
      const quantity = Number(line.quantity);
      return {
        productId: line.productId,
        name: product?.name ?? `Product ${line.productId}`,
        quantity,
        unitPrice: product?.price ?? null,
        lineTotal:
          product && Number.isInteger(quantity)
            ? { amount: product.price.amount * quantity, currency: product.price.currency }
            : null,
      };
    });
  }
}

function invalid(message: string): InvalidNotificationMessageError {
  return new InvalidNotificationMessageError(message);
}

function text(payload: Record<string, unknown>, field: string): string {
  const value = payload[field];
  if (typeof value !== "string" || !value.trim()) throw invalid(`payload.${field} is missing`);
  return value;
}

function money(value: unknown, field: string): Money {
  if (!isMoney(value)) throw invalid(`payload.${field} must be {amount, currency}`);
  return { amount: value.amount, currency: value.currency };
}

/** A line with its name and prices, as orders write them into their events. */
function isWholeLine(value: unknown): value is OrderLine {
  const line = value as Partial<OrderLine> | null;
  return (
    typeof line?.productId === "string" &&
    typeof line.name === "string" &&
    Number.isInteger(line.quantity) &&
    isMoney(line.unitPrice) &&
    isMoney(line.lineTotal)
  );
}

function isMoney(value: unknown): value is Money {
  const m = value as Partial<Money> | null | undefined;
  return Number.isInteger(m?.amount) && typeof m?.currency === "string";
}

/** The receipt an event carries, when it is whole and for this order and customer. */
function carriedReceipt(value: unknown, orderId: string, userId: string): Receipt | undefined {
  const r = value as Partial<Receipt> | undefined;
  const whole = typeof r?.receiptNumber === "string" && Array.isArray(r.lines) && isMoney(r.total);
  return whole && r.orderId === orderId && r.userId === userId ? (r as Receipt) : undefined;
}
