import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import type { ProductSnapshot } from "../../lib/contracts/catalog";
import type { NotificationView, SendNotificationCommand } from "../../lib/contracts/notifications";
import type { OrderEventPayload, PaymentEventPayload, Receipt } from "../../lib/contracts/orders";
import { createEnvelope, headersFor } from "../../lib/messaging/envelope";
import {
  dlqTopic,
  EventTypes,
  NotificationCommandTypes,
  Topic,
  Topics,
} from "../../lib/messaging/topics";
import type { PageOf } from "../../lib/pagination";
import CatalogService from "../../services/catalog/catalog.service";
import NotificationsService from "../../services/notifications/notifications.service";
import UsersService from "../../services/users/users.service";
import {
  ChannelsAdapterName,
  channelsEnv,
  cleanUpChannels,
  startBroker,
} from "../helpers/channels";
import {
  startSmsProvider,
  startSmtpServer,
  TestSmsProvider,
  TestSmtpServer,
} from "../helpers/outbound";
import { adaptersFor, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The notifications service as the other services drive it: order, payment
 * and user events and SendNotification commands arrive on their channels
 * (in-process and Redis Streams), and what it sends arrives at a real SMTP
 * server and an HTTP SMS provider run in the test. The users and catalog
 * services are the real ones: recipients and product names come from them.
 */

const SMS_KEY = "test-sms-key";

describe.each(adaptersFor("redis"))("notifications from events over %s channels", (adapter) => {
  const prefix = uniqueName("notify");
  const deadLetters: unknown[] = [];
  let dataDir: string;
  let smtp: TestSmtpServer;
  let sms: TestSmsProvider;
  let broker: ServiceBroker;
  let products: { kettle: ProductSnapshot; tea: ProductSnapshot };

  const dlqProbe: ServiceSchema = {
    name: "dlq-probe",
    channels: {
      [dlqTopic(Topics.NotificationsCommands)]: {
        group: "dlq-probe",
        context: true,
        handler(ctx: { params: unknown }) {
          deadLetters.push(ctx.params);
        },
      },
    },
  };

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "notifications-events-"));
    smtp = await startSmtpServer();
    sms = await startSmsProvider();
    broker = await startBroker(
      {
        ...channelsEnv(adapter as ChannelsAdapterName, prefix),
        CHANNELS_MAX_RETRIES: "2",
        SQLITE_STORAGE: ":memory:",
        DATA_DIR: dataDir,
        SMTP_URL: smtp.url,
        SMS_URL: sms.url,
        SMS_API_KEY: SMS_KEY,
        NOTIFICATION_BACKOFF_MS: "50",
      },
      [UsersService, CatalogService, NotificationsService, dlqProbe],
    );
    const category = await broker.call<{ id: string }, object>("catalog.createCategory", {
      name: `Kitchen ${uniqueName("c")}`,
    });
    const product = (name: string, amount: number) =>
      broker.call<ProductSnapshot, object>("catalog.createProduct", {
        sku: uniqueName("SKU").replace(/_/g, "-"),
        name,
        description: "For the notifications suite.",
        brand: "Acme",
        categoryId: category.id,
        price: { amount, currency: "USD" },
        status: "active",
      });
    products = {
      kettle: await product("Copper Kettle", 1250),
      tea: await product("Green Tea Tin", 399),
    };
  });

  afterAll(async () => {
    await broker?.stop();
    await smtp?.close();
    await sms?.close();
    await cleanUpChannels(adapter as ChannelsAdapterName, prefix);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function newUser(name: string, phone?: string): Promise<{ id: string; email: string }> {
    const email = `${uniqueName("buyer").toLowerCase()}@example.com`;
    const user = await broker.call<{ id: string }, object>("users.register", {
      email,
      password: "correct horse battery staple",
      name,
    });
    if (phone)
      await broker.call(
        "users.updateMe",
        { phone },
        { meta: { user: { id: user.id, role: "customer" } } },
      );
    return { id: user.id, email };
  }

  function message(type: string, aggregateId: string, payload: object) {
    const envelope = createEnvelope({ type, aggregateId, payload });
    return { envelope, headers: headersFor(envelope, { source: "test", sagaId: aggregateId }) };
  }

  async function publish(topic: Topic, m: ReturnType<typeof message>): Promise<void> {
    await broker.sendToChannel(topic, m.envelope, {
      key: m.envelope.aggregateId,
      headers: { ...m.headers },
    });
  }

  /** An order line as orders write it into their events: name and prices at checkout. */
  function line(product: ProductSnapshot, quantity: number, unitAmount = product.price.amount) {
    return {
      productId: product.id,
      sku: product.sku,
      name: product.name,
      quantity,
      unitPrice: { amount: unitAmount, currency: "USD" },
      lineTotal: { amount: unitAmount * quantity, currency: "USD" },
    };
  }

  function order(userId: string, overrides: Partial<OrderEventPayload> = {}): OrderEventPayload {
    return {
      orderId: randomUUID(),
      userId,
      status: "CONFIRMED",
      total: { amount: 2899, currency: "USD" },
      lines: [line(products.kettle, 2), line(products.tea, 1)],
      ...overrides,
    };
  }

  const orderRef = (orderId: string) => orderId.replace(/-/g, "").slice(0, 8).toUpperCase();

  const deliveryLog = (params: object) =>
    broker.call<PageOf<NotificationView>, object>("notifications.list", params);

  it("sends one confirmation, listing the lines and the total, for an OrderConfirmed delivered twice", async () => {
    const user = await newUser("Olga Order");
    const placed = order(user.id);
    const confirmed = message(EventTypes.OrderConfirmed, placed.orderId, placed);
    await publish(Topics.OrdersEvents, confirmed);
    await publish(Topics.OrdersEvents, confirmed);
    // One consumer takes the topic's messages in order: once this one is sent, both copies were handled.
    const shipped = { ...placed, status: "SHIPPED" as const, trackingNumber: "TRACK-123" };
    await publish(Topics.OrdersEvents, message(EventTypes.OrderShipped, placed.orderId, shipped));
    const shippedMail = await smtp.waitForMail(user.email, /^Your order .* is on its way$/);
    expect(shippedMail.text).toContain(
      `your order ${orderRef(placed.orderId)} (order number ${placed.orderId}) has shipped.`,
    );
    expect(shippedMail.text).toContain("Tracking number: TRACK-123");

    const confirmations = smtp
      .mailTo(user.email)
      .filter((m) => /^Your order .* is confirmed$/.test(m.subject));
    expect(confirmations).toHaveLength(1);
    const [mail] = confirmations;
    expect(mail.subject).toBe(`Your order ${orderRef(placed.orderId)} is confirmed`);
    expect(mail.text).toContain("Hello Olga Order");
    // The body names the order as the subject does, with the full number beside it.
    expect(mail.text).toContain(
      `Order ${orderRef(placed.orderId)} (order number ${placed.orderId})`,
    );
    expect(mail.text).toContain("2 x Copper Kettle  $25.00");
    expect(mail.text).toContain("1 x Green Tea Tin  $3.99");
    expect(mail.text).toContain("Total: $28.99");
    expect(mail.html).toContain("<td>Copper Kettle</td>");
    expect(mail.html).toContain("<th>$28.99</th>");

    const log = await deliveryLog({ userId: user.id, template: "order-confirmed" });
    expect(log.total).toBe(1);
    expect(log.items[0]).toMatchObject({
      causeMessageId: confirmed.envelope.id,
      eventType: "OrderConfirmed",
    });
    // Marked sent just after the server accepted it.
    await waitFor(async () => {
      const [row] = (await deliveryLog({ userId: user.id, template: "order-confirmed" })).items;
      expect(row).toMatchObject({ status: "sent", attempts: 1 });
      return true;
    });
  });

  it("lists the lines at the prices ordered, not at the catalog's prices of the day", async () => {
    const user = await newUser("Sally Sale");
    // Ordered during a sale: the catalog has the kettle at $12.50 again by now.
    const onSale = order(user.id, {
      total: { amount: 1998, currency: "USD" },
      lines: [line(products.kettle, 2, 999)],
    });
    await publish(Topics.OrdersEvents, message(EventTypes.OrderConfirmed, onSale.orderId, onSale));
    const mail = await smtp.waitForMail(user.email, /^Your order .* is confirmed$/);
    expect(mail.text).toContain("2 x Copper Kettle  $19.98");
    expect(mail.text).toContain("Total: $19.98");
    expect(mail.text).not.toContain("$25.00");
  });

  it("names the products of an event written before lines carried names and prices, from the catalog", async () => {
    const user = await newUser("Olav Older");
    const older = {
      ...order(user.id),
      lines: [
        { productId: products.kettle.id, quantity: 2 },
        { productId: products.tea.id, quantity: 1 },
      ],
    };
    await publish(Topics.OrdersEvents, message(EventTypes.OrderConfirmed, older.orderId, older));
    const mail = await smtp.waitForMail(user.email, /^Your order .* is confirmed$/);
    expect(mail.text).toContain("2 x Copper Kettle  $25.00");
    expect(mail.text).toContain("1 x Green Tea Tin  $3.99");
  });

  it("tells the customer why an order was cancelled", async () => {
    const user = await newUser("Carl Cancel");
    const cancelled = order(user.id, { status: "CANCELLED", cancelReason: "PAYMENT_DECLINED" });
    await publish(
      Topics.OrdersEvents,
      message(EventTypes.OrderCancelled, cancelled.orderId, cancelled),
    );
    const mail = await smtp.waitForMail(user.email, /^Your order .* was cancelled$/);
    expect(mail.text).toContain(
      `we cancelled your order ${orderRef(cancelled.orderId)} (order number ${cancelled.orderId}): the payment was declined.`,
    );
    expect(mail.text).toContain("2 x Copper Kettle");
  });

  it("sends a receipt for PaymentSucceeded, from the event when payments keeps none", async () => {
    const user = await newUser("Rita Receipt");
    const payment: PaymentEventPayload = {
      orderId: randomUUID(),
      paymentId: randomUUID(),
      userId: user.id,
      status: "SUCCEEDED",
      amount: { amount: 2899, currency: "USD" },
      method: "card",
      providerReference: "ch_3PzQ8e",
    };
    const paid = message(EventTypes.PaymentSucceeded, payment.orderId, payment);
    await publish(Topics.PaymentsEvents, paid);

    const mail = await smtp.waitForMail(user.email, /^Receipt /);
    expect(mail.subject).toBe(
      `Receipt ${payment.paymentId} for your order ${orderRef(payment.orderId)}`,
    );
    expect(mail.text).toContain(
      `Order: ${orderRef(payment.orderId)} (order number ${payment.orderId})`,
    );
    expect(mail.text).toContain("Payment method: Card");
    expect(mail.text).toContain("Payment reference: ch_3PzQ8e");
    expect(mail.text).toContain("Total paid: $28.99");
  });

  it("sends the receipt PaymentSucceeded carries, lines and number, without asking payments", async () => {
    const user = await newUser("Rhea Receipt");
    const orderId = randomUUID();
    const paymentId = randomUUID();
    const receipt: Receipt = {
      receiptNumber: "R-20261127-ABCDEF123456",
      orderId,
      paymentId,
      userId: user.id,
      lines: [
        {
          productId: products.kettle.id,
          sku: products.kettle.sku,
          name: "Copper Kettle",
          quantity: 2,
          unitPrice: { amount: 1250, currency: "USD" },
          lineTotal: { amount: 2500, currency: "USD" },
        },
      ],
      total: { amount: 2500, currency: "USD" },
      method: "card",
      providerReference: "ch_carried",
      paidAt: "2026-11-27T01:00:00.000Z",
    };
    const payment: PaymentEventPayload = {
      orderId,
      paymentId,
      userId: user.id,
      status: "SUCCEEDED",
      amount: { amount: 2500, currency: "USD" },
      method: "card",
      providerReference: "ch_carried",
      receipt,
    };
    await publish(Topics.PaymentsEvents, message(EventTypes.PaymentSucceeded, orderId, payment));

    const mail = await smtp.waitForMail(user.email, /^Receipt /);
    expect(mail.subject).toBe(
      `Receipt ${receipt.receiptNumber} for your order ${orderRef(orderId)}`,
    );
    expect(mail.text).toContain("2 x Copper Kettle");
    expect(mail.text).toContain("Total paid: $25.00");

    // A receipt of someone else's order is not theirs to be sent: the event's own figures are.
    const other = await newUser("Otto Other");
    const misaddressed = { ...payment, orderId: randomUUID(), userId: other.id };
    await publish(
      Topics.PaymentsEvents,
      message(EventTypes.PaymentSucceeded, misaddressed.orderId, misaddressed),
    );
    const short = await smtp.waitForMail(other.email, /^Receipt /);
    expect(short.subject).toBe(
      `Receipt ${paymentId} for your order ${orderRef(misaddressed.orderId)}`,
    );
    expect(short.text).not.toContain("Copper Kettle");
  });

  it("also texts customers who have a phone number, and only them", async () => {
    const withPhone = await newUser("Pia Phone", "+49 151 2345-6789");
    const withoutPhone = await newUser("Nils Nophone");
    const first = order(withPhone.id);
    const second = order(withoutPhone.id);
    await publish(Topics.OrdersEvents, message(EventTypes.OrderConfirmed, first.orderId, first));
    await publish(Topics.OrdersEvents, message(EventTypes.OrderConfirmed, second.orderId, second));

    const text = await waitFor(
      () => sms.received.find((m) => m.text.includes(orderRef(first.orderId))),
      {
        timeoutMs: 10_000,
      },
    );
    expect(text).toMatchObject({
      to: "+4915123456789",
      text: `Your order ${orderRef(first.orderId)} is confirmed. Total $28.99. We will text you when it ships.`,
      authorization: `Bearer ${SMS_KEY}`,
    });
    const [smsRow] = (await deliveryLog({ userId: withPhone.id, channel: "sms" })).items;
    expect(smsRow).toMatchObject({ recipient: "+4915123456789", subject: null });
    expect(text.idempotencyKey).toBe(smsRow.id);
    await smtp.waitForMail(withPhone.email, /^Your order .* is confirmed$/);

    // Email and SMS rows are written together: once the email is logged, no SMS will follow.
    await smtp.waitForMail(withoutPhone.email, /^Your order .* is confirmed$/);
    expect((await deliveryLog({ userId: withoutPhone.id, channel: "sms" })).total).toBe(0);
    expect(sms.received.filter((m) => m.text.includes(orderRef(second.orderId)))).toEqual([]);
  });

  it("sends a SendNotification command once per notificationKey", async () => {
    const to = `${uniqueName("ops").toLowerCase()}@example.com`;
    const command = (notificationKey: string, name: string): SendNotificationCommand => ({
      notificationKey,
      channel: "email",
      to,
      template: "welcome",
      data: { name },
    });
    const key = uniqueName("key");
    const send = (c: SendNotificationCommand) =>
      publish(
        Topics.NotificationsCommands,
        message(NotificationCommandTypes.SendNotification, c.notificationKey, c),
      );
    // Two messages, one key: the second is a repeat of the first.
    await send(command(key, "First Copy"));
    await send(command(key, "Second Copy"));
    await send(command(uniqueName("key"), "Marker"));

    await smtp.waitForMail(to, /Marker/);
    expect(
      smtp
        .mailTo(to)
        .map((m) => m.subject)
        .sort(),
    ).toEqual(["Welcome to the shop, First Copy", "Welcome to the shop, Marker"]);
    // Marked sent just after the server accepted it.
    await waitFor(async () => {
      const log = await deliveryLog({ template: "welcome", status: "sent", pageSize: 100 });
      expect(log.items.filter((n) => n.recipient === to)).toHaveLength(2);
      return true;
    });
  });

  it("sends a command that cannot be carried out to the dead-letter queue", async () => {
    const to = `${uniqueName("bad").toLowerCase()}@example.com`;
    const bad = {
      notificationKey: uniqueName("key"),
      channel: "email",
      to,
      template: "no-such-template",
      data: {},
    };
    const sent = message(NotificationCommandTypes.SendNotification, bad.notificationKey, bad);
    await publish(Topics.NotificationsCommands, sent);

    await waitFor(() => deadLetters.some((d) => (d as { id?: string }).id === sent.envelope.id), {
      timeoutMs: 15_000,
    });
    expect(smtp.mailTo(to)).toEqual([]);
  });
});
