import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import Redis from "ioredis";
import { simpleParser } from "mailparser";
import type { RelationalDatabase } from "../../lib/infra/relational";
import { waitFor } from "../helpers/wait";
import {
  expectNoCardDataAtRest,
  findCardDataInText,
  scanAtRest,
  whereKeptAtRest,
} from "./card-data-scan";
import { OpenApiDocument, operationsOf, toJsonText } from "./fuzz-requests";
import {
  ADDRESS,
  Customer,
  ErrorEnvelope,
  SecurityPlatform,
  startSecurityPlatform,
  storageModes,
  USD,
} from "./platform";

/**
 * No PAN or CVV anywhere (ARCHITECTURE §8). A shopper's normal life runs
 * (checkout paid by card, a cancellation refunded, a password reset email),
 * and card numbers and security codes are thrown at every route of the
 * document in every place a request can carry them: each body field, each
 * query parameter, each path parameter, the X-Request-ID and
 * Idempotency-Key headers, the provider webhook. Everything that carries one
 * is refused; then every database table, Redis key, file and log line (debug
 * level, with the traces' spans) of the node is scanned (card-data-scan.ts)
 * and holds none, nor the reset token anywhere but in the email that carries
 * it. The scanner is shown to find a card number planted in each of those
 * places, so an empty scan means something. Embedded, and on MariaDB + Redis.
 */
const CARD_NUMBERS: unknown[] = [
  "4111111111111111",
  "4111 1111 1111 1111",
  "5555-5555-5555-4444",
  "378282246310005",
  4242424242424242,
];
const PAN = "4000056655665556";

describe.each(storageModes())("no card data at rest (%s)", (mode) => {
  let sec: SecurityPlatform;
  let shopper: Customer;
  let operations: ReturnType<typeof operationsOf>;
  const refusals: { what: string; status: number; field?: string }[] = [];

  beforeAll(async () => {
    // Debug logs and traces printed to the log too: everything the node can write is scanned.
    sec = await startSecurityPlatform({
      mode,
      env: { LOG_LEVEL: "debug", TRACING_EXPORTER: "console" },
    });
    shopper = await sec.customer();
    const doc = await sec.api<OpenApiDocument>("GET", "/openapi.json");
    operations = operationsOf(doc.body);
  }, 60_000);

  afterAll(async () => {
    await sec?.stop();
  });

  const tokenFor = (auth: string) => (auth === "admin" ? sec.admin.token : shopper.token);

  async function attempt(what: string, method: string, url: string, init: RequestInit) {
    const res = await fetch(sec.platform.baseUrl + url, { method, ...init });
    const text = await res.text();
    // No answer echoes a card number back either.
    expect(findCardDataInText(text)).toEqual([]);
    const field =
      res.status === 400 ? (JSON.parse(text) as ErrorEnvelope).error.details[0]?.field : undefined;
    refusals.push({ what, status: res.status, field });
  }

  it("runs a shopper's checkout, refund and password reset by card token", async () => {
    const productId = await sec.product(USD(1999));
    const address = await sec.api<{ id: string }>("POST", "/users/me/addresses", {
      token: shopper.token,
      body: { ...ADDRESS, phone: "+1 555 0100" },
    });
    expect(address.status).toBe(201);
    await sec.api("POST", "/cart/items", {
      token: shopper.token,
      body: { productId, quantity: 2 },
    });
    const cart = await sec.api<{ id: string }>("GET", "/cart", { token: shopper.token });
    const order = await sec.api<{ id: string }>("POST", "/orders", {
      token: shopper.token,
      headers: { "Idempotency-Key": randomUUID() },
      body: {
        cartId: cart.body.id,
        shippingAddressId: address.body.id,
        paymentMethod: { type: "card", token: "tok_visa" },
      },
    });
    expect(order.status).toBe(201);
    const orderStatus = () =>
      sec.api<{ status: string }>("GET", `/orders/${order.body.id}`, { token: shopper.token });
    await waitFor(async () => (await orderStatus()).body.status === "CONFIRMED", {
      timeoutMs: 15_000,
    });
    expect(
      (await sec.api("GET", `/orders/${order.body.id}/receipt`, { token: shopper.token })).status,
    ).toBe(200);
    expect(
      (await sec.api("POST", `/orders/${order.body.id}/cancel`, { token: shopper.token, body: {} }))
        .status,
    ).toBe(200);
    await waitFor(
      async () =>
        (await sec.chargesFor(order.body.id)).every((charge) => charge.amount_refunded > 0),
      { timeoutMs: 15_000 },
    );
    const forgot = await sec.api("POST", "/auth/password/forgot", {
      body: { email: shopper.email },
    });
    expect(forgot.status).toBe(202);
  }, 30_000);

  it("refuses a card number or security code in any body field, query or path parameter, or Idempotency-Key", async () => {
    for (const op of operations) {
      const token = tokenFor(op.auth);
      const realPath = op.path.replace(/\{[^}]+\}/g, randomUUID());
      const json = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      if (op.method !== "GET") {
        const fields = Object.keys(op.body?.properties ?? {});
        const bodies: Record<string, unknown>[] = [
          ...fields.flatMap((field) => CARD_NUMBERS.map((pan) => ({ [field]: pan }))),
          { paymentMethod: { type: "card", number: PAN, cvc: "123" } },
          { card: { number: PAN, exp_month: 12, exp_year: 2030 } },
          { securityCode: "987", cardNumber: PAN },
          { note: [{ deep: { deeper: PAN } }] },
        ];
        for (const body of bodies)
          await attempt(`body of ${op.method} ${op.path}`, op.method, realPath, {
            headers: json,
            body: toJsonText(body),
          });
        await attempt(`form body of ${op.method} ${op.path}`, op.method, realPath, {
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/x-www-form-urlencoded",
          },
          body: `paymentMethod[cvc]=123&note=${PAN}`,
        });
      }
      for (const query of [...op.query.map((q) => `${q.name}=${PAN}`), "cvv=123", `x=${PAN}`])
        await attempt(`query of ${op.method} ${op.path}`, op.method, `${realPath}?${query}`, {
          headers: json,
        });
      for (const name of op.pathParams) {
        const withPan = op.path.replace(`{${name}}`, PAN).replace(/\{[^}]+\}/g, randomUUID());
        await attempt(`path of ${op.method} ${op.path}`, op.method, withPan, { headers: json });
      }
    }
    await attempt("Idempotency-Key", "POST", "/orders", {
      headers: {
        authorization: `Bearer ${shopper.token}`,
        "content-type": "application/json",
        "idempotency-key": PAN,
      },
      body: JSON.stringify({
        lines: [{ productId: randomUUID(), quantity: 1 }],
        shippingAddress: ADDRESS,
        paymentMethod: { type: "card", token: "tok_visa" },
      }),
    });
    expect(refusals.length).toBeGreaterThan(200);
    const notRefused = refusals.filter((r) => r.status !== 400 || !r.field);
    expect(notRefused).toEqual([]);
  }, 60_000);

  it("does not take a card number as a request id, and keeps a webhook's body to itself", async () => {
    const res = await fetch(`${sec.platform.baseUrl}/products`, {
      headers: { "x-request-id": PAN },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).not.toBe(PAN);
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const webhook = await fetch(`${sec.platform.baseUrl}/payments/webhooks/sandbox`, {
      method: "POST",
      headers: { "content-type": "application/json", "sandbox-signature": "t=1,v1=00" },
      body: JSON.stringify({
        id: "evt_1",
        type: "charge.succeeded",
        card: { number: PAN, cvc: "1" },
      }),
    });
    expect(webhook.status).toBe(400);
  });

  it("keeps none of them in a database, Redis, a file or a log line", async () => {
    await expectNoCardDataAtRest(sec);
  }, 60_000);

  it("keeps the reset token only in the email that carries it", async () => {
    const mailDir = path.join(sec.storage.dataDir, "outbox-mail");
    const resetMail = await waitFor(async () => {
      for (const file of fs.existsSync(mailDir) ? fs.readdirSync(mailDir) : []) {
        const mail = await simpleParser(fs.readFileSync(path.join(mailDir, file)));
        const to = mail.to && !Array.isArray(mail.to) ? mail.to.text : "";
        if (to === shopper.email && mail.subject === "Reset your password")
          return { file, text: mail.text ?? "" };
      }
      return undefined;
    });
    const token = decodeURIComponent(/[?&]token=([^\s&]+)/.exec(resetMail.text)![1]);
    expect(token).toHaveLength(43);
    // Not in the users outbox, the channel, the job queue, the delivery log or a log line.
    const where = await whereKeptAtRest(sec.storage, sec.logs, token);
    expect(where).toEqual([`file:${resetMail.file}`]);
  }, 30_000);

  it("would have found one planted in each of those places", async () => {
    const { db } = sec.platform.broker.getLocalService("users") as unknown as {
      db: RelationalDatabase;
    };
    const redis = sec.storage.redisUrl ? new Redis(sec.storage.redisUrl) : undefined;
    const probeKey = `${sec.storage.redisPatterns[0]?.replace("*", "")}card-scan-probe`;
    const probeFile = path.join(sec.storage.dataDir, "card-scan-probe.txt");
    try {
      await db.sequelize.query("CREATE TABLE card_scan_probe (note VARCHAR(100))");
      await db.sequelize.query("INSERT INTO card_scan_probe (note) VALUES (?)", {
        replacements: [`paid with ${PAN}`],
      });
      await redis?.set(probeKey, JSON.stringify({ card: { cvc: "123" } }));
      fs.writeFileSync(probeFile, `card 4000-0566-5566-5556, "cvc": "123"`);
      sec.platform.broker.logger.info(`charging ${PAN}`);

      const { hits } = await scanAtRest(sec.storage, sec.logs);
      const where = hits.map((hit) => hit.where);
      expect(where).toEqual(expect.arrayContaining(["logs", "file:card-scan-probe.txt"]));
      expect(where.some((w) => w.endsWith(".card_scan_probe"))).toBe(true);
      if (redis) expect(where).toContain(`redis:${probeKey}`);
      expect(hits.map((hit) => hit.found)).toEqual(
        expect.arrayContaining(["400005******5556", "cvc=…"]),
      );
      expect(JSON.stringify(hits)).not.toContain(PAN);
    } finally {
      await db.sequelize.query("DROP TABLE IF EXISTS card_scan_probe");
      await redis?.del(probeKey);
      redis?.disconnect();
      fs.rmSync(probeFile, { force: true });
    }
  }, 30_000);
});

describe("the scan of raw database pages", () => {
  it("finds a card number standing as a JSON or text value, not digits cut out of other bytes", () => {
    const page = (text: string) => `\x00\x13\x81${text}\x02\x00`;
    expect(findCardDataInText(page(`{"pan":"${PAN}"}`), true)).toEqual(["400005******5556"]);
    expect(findCardDataInText(page(`{"pan":${PAN},"n":1}`), true)).toEqual(["400005******5556"]);
    expect(findCardDataInText(page(`paid with 4000 0566 5566 5556 today`), true)).toHaveLength(1);
    // The tail of an overwritten id followed by another cell's digits, between binary bytes.
    const remnant = page(`\x07${PAN}\x1f`);
    expect(findCardDataInText(remnant, true)).toEqual([]);
    // Anywhere else (rows, keys, logs) such a run still counts.
    expect(findCardDataInText(remnant)).toEqual(["400005******5556"]);
  });

  it("does not read a phone number and the date after it in a row as one number", () => {
    // An address row as SQLite stores it: the phone, then created_at, nothing between.
    // "555 0100" and "2026-11-27" read "555010020261127", which passes the Luhn check.
    const row = (phone: string) =>
      `\x00\x0d1 Main StreetSpringfield12345US${phone}2026-11-27 00:17:00.093 +00:002026-11-27 00:17:00.093 +00:00`;
    expect(findCardDataInText(row("+1 555 0100"), true)).toEqual([]);
    expect(findCardDataInText(row("+1 555 0100"))).toEqual([]);
    // A card number in that place is still found.
    expect(findCardDataInText(row(` ${PAN}`), true)).toEqual(["400005******5556"]);
  });
});

describe("the scan of log lines", () => {
  // A v4 UUID whose digit groups line up into a Luhn-valid number that starts like a Visa card.
  const id = "0b1c2d3e-ab12-4135-9634-52317018cafe";

  it("sets aside a UUID, whole or cut short by the console trace exporter", () => {
    expect(findCardDataInText(`GET /api/v1/orders/${id} 12ms`)).toEqual([]);
    // The exporter fits a span's name to its column and marks the cut with "...".
    const caption = `GET /api/v1/orders/${id.slice(0, 32)}...`;
    expect(findCardDataInText(`│ ${caption} 12ms [....■■■■■■.....] │`)).toEqual([]);
  });

  it("still finds the same digits standing on their own, cut short or not", () => {
    expect(findCardDataInText("paid with 4135-9634-52317018 today")).toEqual(["413596******7018"]);
    expect(findCardDataInText("paid with 4135963452317018...")).toEqual(["413596******7018"]);
  });
});
