import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { simpleParser } from "mailparser";
import type { NotificationView } from "../../lib/contracts/notifications";
import type { PageOf } from "../../lib/pagination";
import NotificationsService from "../../services/notifications/notifications.service";
import UsersService from "../../services/users/users.service";
import { channelsEnv, cleanUpChannels } from "../helpers/channels";
import { startSmtpServer, TestSmtpServer } from "../helpers/outbound";
import {
  accessTokenFor,
  newCustomerToken,
  Platform,
  startPlatform,
  withRealServers,
} from "../helpers/platform";
import { adaptersFor, uniqueName } from "../helpers/servers";
import { sleep, waitFor } from "../helpers/wait";

/**
 * Notifications end to end: customers act through the HTTP gateway (register,
 * forgot password, reset), the users service's events reach the
 * notifications service, and what it sends arrives at a real SMTP server run
 * in the test, where the test reads it. Embedded, and on MariaDB + Redis
 * (BullMQ queue, Redis Streams channels) when TEST_MYSQL_URL and
 * TEST_REDIS_URL are set.
 */
const available = adaptersFor("mysql", "redis");
const modes =
  available.includes("mysql") && available.includes("redis")
    ? ["embedded", "mariadb+redis"]
    : ["embedded"];

const PASSWORD = "correct horse battery staple";
const MAX_ATTEMPTS = 3;
const CONCURRENCY = 3;

interface ErrorBody {
  error: { type: string; code: number; details: { field?: string }[] };
}

describe.each(modes)("notifications end to end (%s)", (mode) => {
  const adminEmail = `${uniqueName("admin")}@example.com`;
  const adminPassword = randomBytes(18).toString("base64url");
  const channelsPrefix = uniqueName("notifications");
  const real = mode === "embedded" ? undefined : withRealServers("mysql", "redis");
  let smtp: TestSmtpServer;
  let platform: Platform;
  let api: Platform["request"];
  let admin: string;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    platform = await startPlatform({
      services: [UsersService, NotificationsService],
      env: {
        RATE_LIMIT_MAX: "0",
        AUTH_RATE_LIMIT_MAX: "0",
        ADMIN_EMAIL: adminEmail,
        ADMIN_PASSWORD: adminPassword,
        SMTP_URL: smtp.url,
        NOTIFICATION_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
        NOTIFICATION_BACKOFF_MS: "50",
        NOTIFICATION_CONCURRENCY: String(CONCURRENCY),
        ...(real ? { ...real.env, ...channelsEnv("redis", channelsPrefix) } : {}),
        CHANNELS_PREFIX: channelsPrefix,
      },
    });
    api = platform.request;
    admin = await accessTokenFor(platform, adminEmail, adminPassword);
  });

  afterAll(async () => {
    await platform?.stop();
    await smtp?.close();
    await real?.cleanup();
    if (real) await cleanUpChannels("redis", channelsPrefix);
  });

  const newEmail = () => `${uniqueName("shopper").toLowerCase()}@example.com`;

  async function register(email: string, name = "Ann Example"): Promise<string> {
    const res = await api<{ id: string }>("POST", "/auth/register", {
      body: { email, password: PASSWORD, name },
    });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  const deliveryLog = (query: string, token = admin) =>
    api<PageOf<NotificationView> & ErrorBody>("GET", `/notifications?${query}`, { token });

  /** The user's notification of one template, once it has reached `status`. */
  async function notification(
    userId: string,
    template: string,
    status: NotificationView["status"],
  ): Promise<NotificationView> {
    return waitFor(
      async () => {
        const res = await deliveryLog(`userId=${userId}&template=${template}`);
        return res.body.items?.find((n) => n.status === status);
      },
      { timeoutMs: 15_000, intervalMs: 50 },
    );
  }

  it("welcomes a new customer by email", async () => {
    const email = newEmail();
    const userId = await register(email, "Ann Welcome");

    const mail = await smtp.waitForMail(email, /^Welcome/);
    expect(mail.subject).toBe("Welcome to the shop, Ann Welcome");
    expect(mail.text).toContain("Hello Ann Welcome");
    expect(mail.html).toContain("<p>Hello Ann Welcome,</p>");
    expect(mail.parsed.from?.value).toEqual([{ name: "Shop", address: "no-reply@shop.local" }]);

    const logged = await notification(userId, "welcome", "sent");
    expect(logged).toMatchObject({
      userId,
      channel: "email",
      recipient: email,
      subject: "Welcome to the shop, Ann Welcome",
      attempts: 1,
      lastError: null,
      eventType: "UserRegistered",
    });
    expect(logged.sentAt).toEqual(expect.any(String));
    // The Message-ID is the notification's: a retried send would carry the same one.
    expect(mail.messageId).toContain(logged.id);
  });

  it("emails a reset link that works: forgot, reset, then sign in with the new password", async () => {
    const email = newEmail();
    const userId = await register(email);
    const forgot = await api("POST", "/auth/password/forgot", { body: { email } });
    expect(forgot.status).toBe(202);

    const mail = await smtp.waitForMail(email, /^Reset your password$/);
    const link = /https?:\/\/\S+[?&]token=([^\s&]+)/.exec(mail.text);
    expect(link).not.toBeNull();
    const token = decodeURIComponent(link![1]);
    // The HTML version links to it too.
    expect(mail.html).toMatch(/<a href="https?:\/\/[^"]+">Choose a new password<\/a>/);
    expect(mail.html).toContain(link![1]);

    const newPassword = "a brand new passphrase 42";
    const reset = await api("POST", "/auth/password/reset", {
      body: { token, password: newPassword },
    });
    expect(reset.status).toBe(204);
    const login = (password: string) =>
      api("POST", "/auth/login", { body: { email, password } }).then((r) => r.status);
    expect(await login(newPassword)).toBe(200);
    expect(await login(PASSWORD)).toBe(401);

    // The delivery log knows the email was sent, but never saw the token.
    const logged = await notification(userId, "password-reset", "sent");
    expect(logged.subject).toBe("Reset your password");
    const page = await deliveryLog(`userId=${userId}`);
    expect(JSON.stringify(page.body)).not.toContain(token);
    expect(JSON.stringify(page.body)).not.toContain(encodeURIComponent(token));
  });

  it("retries a send the mail server refuses, and delivers exactly one copy", async () => {
    const email = newEmail();
    smtp.refuse(email, 2);
    const userId = await register(email);

    const logged = await notification(userId, "welcome", "sent");
    expect(logged.attempts).toBe(3);
    expect(smtp.refusedFor(email)).toBe(2);
    // Nothing else is on its way: wait past another backoff and count again.
    await sleep(300);
    expect(smtp.mailTo(email)).toHaveLength(1);
  });

  it("keeps a notification the mail server always refuses as failed, with the last error", async () => {
    const email = newEmail();
    smtp.refuse(email, Infinity);
    const userId = await register(email);

    const logged = await notification(userId, "welcome", "failed");
    expect(logged.attempts).toBe(MAX_ATTEMPTS);
    expect(logged.lastError).toMatch(/451/);
    expect(logged.sentAt).toBeNull();
    await sleep(300);
    expect(smtp.refusedFor(email)).toBe(MAX_ATTEMPTS);
    expect(smtp.mailTo(email)).toHaveLength(0);
  });

  it("sends NOTIFICATION_CONCURRENCY emails at once to a slow mail server, and no more", async () => {
    const emails = Array.from({ length: 8 }, newEmail);
    smtp.setDelay(600);
    smtp.resetMostInFlight();
    try {
      await Promise.all(emails.map((email) => register(email)));
      await Promise.all(emails.map((email) => smtp.waitForMail(email, /^Welcome/, 20_000)));
    } finally {
      smtp.setDelay(0);
    }
    expect(smtp.mostInFlight()).toBe(CONCURRENCY);
  });

  it("shows the delivery log to admins only, filtered and paged, newest first", async () => {
    const email = newEmail();
    const userId = await register(email);
    await smtp.waitForMail(email, /^Welcome/);
    expect((await api("POST", "/auth/password/forgot", { body: { email } })).status).toBe(202);
    await notification(userId, "welcome", "sent");
    await notification(userId, "password-reset", "sent");

    const all = await deliveryLog(`userId=${userId}`);
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ page: 1, pageSize: 20, total: 2 });
    expect(all.body.items.map((n) => n.template)).toEqual(["password-reset", "welcome"]);

    const second = await deliveryLog(`userId=${userId}&pageSize=1&page=2`);
    expect(second.body).toMatchObject({ page: 2, pageSize: 1, total: 2 });
    expect(second.body.items.map((n) => n.template)).toEqual(["welcome"]);

    const welcomes = await deliveryLog(
      `userId=${userId}&template=welcome&status=sent&channel=email`,
    );
    expect(welcomes.body.total).toBe(1);
    expect((await deliveryLog(`userId=${userId}&channel=sms`)).body.total).toBe(0);
    expect((await deliveryLog(`userId=${userId}&status=failed`)).body.total).toBe(0);
    // Other users' notifications are not in a filtered page.
    expect((await deliveryLog(`userId=${randomUUID()}`)).body.total).toBe(0);

    const customer = await newCustomerToken(platform, PASSWORD);
    const forbidden = await deliveryLog("", customer);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.type).toBe("FORBIDDEN");
    expect((await api("GET", "/notifications")).status).toBe(401);

    for (const [query, field] of [
      ["status=lost", "status"],
      ["channel=pigeon", "channel"],
      ["pageSize=101", "pageSize"],
      ["sort=oldest", "sort"],
    ]) {
      const bad = await deliveryLog(query);
      expect(bad.status).toBe(400);
      expect(bad.body.error.details.map((d) => d.field)).toContain(field);
    }
  });
});

describe("notifications without an SMTP server", () => {
  let dataDir: string;
  let platform: Platform;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "notifications-eml-"));
    platform = await startPlatform({
      services: [UsersService, NotificationsService],
      env: { RATE_LIMIT_MAX: "0", AUTH_RATE_LIMIT_MAX: "0", DATA_DIR: dataDir },
    });
  });

  afterAll(async () => {
    await platform?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("writes each email as a .eml file under DATA_DIR/outbox-mail", async () => {
    const email = `${uniqueName("eml").toLowerCase()}@example.com`;
    const res = await platform.request("POST", "/auth/register", {
      body: { email, password: PASSWORD, name: "Eve Offline" },
    });
    expect(res.status).toBe(201);

    const outbox = path.join(dataDir, "outbox-mail");
    const file = await waitFor(() => fs.readdirSync(outbox).find((f) => f.endsWith(".eml")), {
      timeoutMs: 10_000,
    });
    const mail = await simpleParser(fs.readFileSync(path.join(outbox, file)));
    expect(mail.subject).toBe("Welcome to the shop, Eve Offline");
    expect(mail.to && !Array.isArray(mail.to) ? mail.to.text : "").toBe(email);
    expect(mail.text).toContain("Hello Eve Offline");
    expect(fs.readdirSync(outbox)).toEqual([file]);
  });
});
