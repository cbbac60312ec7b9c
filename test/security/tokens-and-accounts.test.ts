import { createHmac, generateKeyPairSync, randomUUID } from "node:crypto";
import * as argon2 from "argon2";
import jwt from "jsonwebtoken";
import { QueryTypes } from "sequelize";
import { signAccessToken } from "../../lib/auth/jwt";
import { keyId } from "../../lib/auth/keys";
import { infrastructureOf } from "../../lib/infra";
import type { RelationalDatabase } from "../../lib/infra/relational";
import type { PlatformResponse } from "../helpers/platform";
import { expectNoCardDataAtRest } from "./card-data-scan";
import {
  Customer,
  ErrorEnvelope,
  isErrorEnvelope,
  PASSWORD,
  SecurityPlatform,
  startSecurityPlatform,
  USD,
} from "./platform";

/**
 * Tokens and accounts, against the real routes of the whole node:
 *  - forged access tokens (alg none, HS256 keyed with the public key, another
 *    key, naming ours or not, expired, not yet valid, wrong audience or
 *    issuer, a refresh token, a re-signed or unsigned payload) are 401 on
 *    every protected route, and anonymous on public ones — while the same
 *    claims properly signed pass;
 *  - a replayed refresh token revokes its whole family;
 *  - login guessing is throttled per account, whatever X-Forwarded-For says,
 *    with and without a trusted proxy;
 *  - login and password reset answer known and unknown emails alike;
 *  - every stored password hash is Argon2id with at least the configured cost.
 * test/e2e/auth.test.ts and test/e2e/gateway.test.ts prove these rules on
 * the users service and a test action; this suite checks the assembled node.
 */
const PARAMS = { memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 };
/** PHC string: `$argon2id$v=19$<k=v,…>$<salt>$<hash>` (base64 without padding). */
const ARGON2ID = /^\$argon2id\$v=19\$((?:[mtp]=\d+,?){3})\$[A-Za-z0-9+/]{16,}\$[A-Za-z0-9+/]{32,}$/;

interface Tokens {
  accessToken: string;
  refreshToken: string;
}

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");

describe("tokens and accounts", () => {
  let sec: SecurityPlatform;
  let victim: Customer;
  let orderId: string;
  let forgeries: [string, string][];

  beforeAll(async () => {
    sec = await startSecurityPlatform({ env: { LOGIN_MAX_FAILURES: "50" } });
    victim = await sec.customer();
    const productId = await sec.product(USD(1000));
    const order = await sec.api<{ id: string }>("POST", "/orders", {
      token: victim.token,
      headers: { "Idempotency-Key": randomUUID() },
      body: {
        lines: [{ productId, quantity: 1 }],
        shippingAddress: {
          name: "Victim",
          line1: "1 Road",
          city: "Town",
          postalCode: "1",
          country: "US",
        },
        paymentMethod: { type: "cash_on_delivery" },
      },
    });
    orderId = order.body.id;
    forgeries = forgedTokens();
  }, 60_000);

  afterAll(async () => {
    await sec?.stop();
  });

  /** Claims of the victim promoted to admin, in every way a token can be forged. */
  function forgedTokens(): [string, string][] {
    const infra = infrastructureOf(sec.platform.broker);
    const { privateKey, publicKeys } = infra.signingKeys();
    const { jwtIssuer: issuer, jwtAudience: audience } = infra.config;
    const settings = { issuer, audience, ttlSec: 300 };
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: victim.id, role: "admin", typ: "access", iss: issuer, aud: audience };
    const sign = (payload: object) => jwt.sign(payload, privateKey!, { algorithm: "ES256" });
    const otherKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const pem = publicKeys[0].export({ type: "spki", format: "pem" });
    const hsHead = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ ...claims, exp: now + 300 })}`;
    const [head, , signature] = signAccessToken(
      { sub: victim.id, role: "customer" },
      privateKey!,
      settings,
    ).split(".");
    return [
      ["alg none", `${b64({ alg: "none", typ: "JWT" })}.${b64({ ...claims, exp: now + 300 })}.`],
      ["alg NONE", `${b64({ alg: "NONE" })}.${b64({ ...claims, exp: now + 300 })}.`],
      [
        "HS256 keyed with the public key",
        `${hsHead}.${createHmac("sha256", pem).update(hsHead).digest("base64url")}`,
      ],
      [
        "ES256 by another key",
        signAccessToken({ sub: victim.id, role: "admin" }, otherKey, settings),
      ],
      [
        "ES256 by another key, naming ours",
        jwt.sign({ ...claims, exp: now + 300 }, otherKey, {
          algorithm: "ES256",
          keyid: keyId(privateKey!),
        }),
      ],
      ["expired", sign({ ...claims, exp: now - 60, iat: now - 960 })],
      ["not valid yet", sign({ ...claims, nbf: now + 600, exp: now + 900 })],
      ["another audience", sign({ ...claims, aud: "another-api", exp: now + 300 })],
      ["another issuer", sign({ ...claims, iss: "someone-else", exp: now + 300 })],
      ["typ refresh", sign({ ...claims, typ: "refresh", exp: now + 300 })],
      [
        "no typ",
        sign({ sub: victim.id, role: "admin", iss: issuer, aud: audience, exp: now + 300 }),
      ],
      ["a role we do not have", sign({ ...claims, role: "superuser", exp: now + 300 })],
      ["the refresh token", victim.refreshToken],
      ["a re-signed payload", `${head}.${b64({ ...claims, exp: now + 300 })}.${signature}`],
      ["an unsigned copy", `${head}.${b64({ ...claims, exp: now + 300 })}.`],
    ];
  }

  /** Routes a forged token would most like to open: the victim's own, and the admin's. */
  const protectedRoutes = (): [string, string, unknown?][] => [
    ["GET", "/users/me"],
    ["GET", `/orders/${orderId}`],
    ["POST", `/orders/${orderId}/cancel`, {}],
    ["GET", "/notifications"],
    ["PATCH", `/orders/${orderId}/status`, { status: "SHIPPED", trackingNumber: "X" }],
    ["POST", "/categories", { name: "Forged" }],
  ];

  function expectUnauthorized(res: PlatformResponse): void {
    expect(res.status).toBe(401);
    expect(isErrorEnvelope(res)).toBe(true);
    expect((res.body as ErrorEnvelope).error.type).toBe("UNAUTHORIZED");
    expect(res.headers["www-authenticate"]).toBe("Bearer");
    expect(JSON.stringify(res.body)).not.toContain(victim.email);
  }

  it("refuses every forged access token with 401 on every protected route", async () => {
    expect(forgeries.length).toBeGreaterThanOrEqual(15);
    for (const [, token] of forgeries) {
      for (const [method, path, body] of protectedRoutes()) {
        expectUnauthorized(await sec.api(method, path, { token, body }));
      }
    }
    // The victim's order was neither cancelled nor shipped.
    const order = await sec.api<{ status: string }>("GET", `/orders/${orderId}`, {
      token: victim.token,
    });
    expect(["PENDING", "AWAITING_PAYMENT", "CONFIRMED"]).toContain(order.body.status);
  });

  it("takes a forged token on a public route as nobody: the victim's cart stays out of reach", async () => {
    const productId = await sec.product(USD(100));
    await sec.api("POST", "/cart/items", { token: victim.token, body: { productId, quantity: 1 } });
    for (const [, token] of forgeries) {
      const cart = await sec.api("GET", "/cart", { token });
      expect(cart.status).toBe(404);
      expect(JSON.stringify(cart.body)).not.toContain(productId);
    }
  });

  it("lets the same claims through when the node itself signed them (the check above can fail)", async () => {
    const infra = infrastructureOf(sec.platform.broker);
    const token = signAccessToken(
      { sub: victim.id, role: "admin" },
      infra.signingKeys().privateKey!,
      {
        issuer: infra.config.jwtIssuer,
        audience: infra.config.jwtAudience,
        ttlSec: 60,
      },
    );
    expect((await sec.api("GET", "/users/me", { token })).status).toBe(200);
    expect((await sec.api("GET", "/notifications", { token })).status).toBe(200);
  });

  it("revokes the whole session family when a rotated refresh token is replayed", async () => {
    const first = await login(victim.email, PASSWORD);
    const second = await sec.api<Tokens>("POST", "/auth/refresh", {
      body: { refreshToken: first.refreshToken },
    });
    expect(second.status).toBe(200);
    const replay = await sec.api("POST", "/auth/refresh", {
      body: { refreshToken: first.refreshToken },
    });
    expectUnauthorized(replay);
    // The thief's replay killed the newest token too, so neither side keeps the session.
    expectUnauthorized(
      await sec.api("POST", "/auth/refresh", { body: { refreshToken: second.body.refreshToken } }),
    );
    // Another session of the same user (the first login) is a family of its own.
    expect(
      (await sec.api("POST", "/auth/refresh", { body: { refreshToken: victim.refreshToken } }))
        .status,
    ).toBe(200);
  });

  it("answers login for a known email with a wrong password exactly like an unknown email, in about the same time", async () => {
    const known = () =>
      sec.api<ErrorEnvelope>("POST", "/auth/login", {
        body: { email: victim.email, password: "not the password" },
      });
    const unknown = () =>
      sec.api<ErrorEnvelope>("POST", "/auth/login", {
        body: { email: `nobody_${randomUUID()}@example.com`, password: "not the password" },
      });
    const { first, second } = await timed(known, unknown);
    expect(withoutRequestId(first)).toEqual(withoutRequestId(second));
    expect(first.status).toBe(401);
  });

  it("answers a password reset for a known email exactly like for an unknown one, in about the same time", async () => {
    const forgot = (email: string) => () =>
      sec.api("POST", "/auth/password/forgot", { body: { email } });
    const { first, second } = await timed(
      forgot(victim.email),
      forgot(`nobody_${randomUUID()}@example.com`),
    );
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(first.body).toEqual(second.body);
  });

  it("stores every password as an Argon2id hash with at least the configured cost", async () => {
    const { db } = sec.platform.broker.getLocalService("users") as unknown as {
      db: RelationalDatabase;
    };
    const rows = await db.sequelize.query<{ email: string; password_hash: string }>(
      "SELECT email, password_hash FROM users",
      { type: QueryTypes.SELECT },
    );
    expect(rows.length).toBeGreaterThanOrEqual(2); // the admin and the victim at least
    for (const { password_hash: hash } of rows) {
      expect(hash).toMatch(ARGON2ID);
      const cost = Object.fromEntries(
        ARGON2ID.exec(hash)![1]
          .split(",")
          .map((kv) => kv.split("=")),
      ) as Record<"m" | "t" | "p", string>;
      expect(Number(cost.m)).toBeGreaterThanOrEqual(PARAMS.memoryCost);
      expect(Number(cost.t)).toBeGreaterThanOrEqual(PARAMS.timeCost);
      expect(Number(cost.p)).toBeGreaterThanOrEqual(PARAMS.parallelism);
    }
    const victimHash = rows.find((r) => r.email === victim.email)!.password_hash;
    expect(await argon2.verify(victimHash, PASSWORD)).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(PASSWORD);
  });

  it("keeps no card number or security code at rest", async () => {
    await expectNoCardDataAtRest(sec);
  }, 30_000);

  async function login(email: string, password: string): Promise<Tokens> {
    const res = await sec.api<Tokens>("POST", "/auth/login", { body: { email, password } });
    expect(res.status).toBe(200);
    return res.body;
  }
});

describe.each([
  ["without a trusted proxy", {}],
  ["behind a trusted proxy", { TRUST_PROXY: "127.0.0.1" }],
])("login guessing with a new X-Forwarded-For each time, %s", (_name, proxyEnv) => {
  const AUTH_LIMIT = 20;
  const MAX_FAILURES = 5;
  let sec: SecurityPlatform;

  beforeAll(async () => {
    sec = await startSecurityPlatform({
      env: {
        ...proxyEnv,
        AUTH_RATE_LIMIT_MAX: String(AUTH_LIMIT),
        LOGIN_MAX_FAILURES: String(MAX_FAILURES),
        LOGIN_FAILURE_WINDOW: "900",
      },
    });
  }, 60_000);

  afterAll(async () => {
    await sec?.stop();
  });

  let client = 0;
  /** A login as if from a new address each time. */
  const loginFrom = (email: string, password: string) =>
    sec.api<ErrorEnvelope>("POST", "/auth/login", {
      body: { email, password },
      headers: { "x-forwarded-for": `198.51.100.${++client}` },
    });

  async function register(): Promise<string> {
    const email = `guess_${randomUUID()}@example.com`;
    const res = await sec.api("POST", "/auth/register", {
      body: { email, password: PASSWORD, name: "Guessed" },
    });
    expect(res.status).toBe(201);
    return email;
  }

  it("locks the account after LOGIN_MAX_FAILURES wrong passwords: then even the right one gets 429", async () => {
    const [victim, bystander] = [await register(), await register()];
    for (let i = 0; i < MAX_FAILURES; i++)
      expect((await loginFrom(victim, `guess ${i}`)).status).toBe(401);
    const locked = await loginFrom(victim, PASSWORD);
    expect(locked.status).toBe(429);
    expect(locked.body.error).toMatchObject({ type: "RATE_LIMITED", code: 429 });
    expect(locked.body.error.message).toMatch(/failed login attempts/);
    expect(Number(locked.headers["retry-after"])).toBeGreaterThan(0);
    expect(JSON.stringify(locked.body)).not.toMatch(/accessToken/);
    // The lock is the account's: another account still logs in.
    expect((await loginFrom(bystander, PASSWORD)).status).toBe(200);
    // An unknown email locks the same way, so the lock tells nothing about which emails exist.
    const nobody = `nobody_${randomUUID()}@example.com`;
    for (let i = 0; i < MAX_FAILURES; i++) await loginFrom(nobody, `guess ${i}`);
    const lockedUnknown = await loginFrom(nobody, PASSWORD);
    expect(lockedUnknown.status).toBe(429);
    expect(withoutRequestId(lockedUnknown).body).toEqual(withoutRequestId(locked).body);
  });

  it("counts requests per client address as the proxy setting says", async () => {
    const remaining: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await loginFrom(`nobody_${randomUUID()}@example.com`, "x");
      remaining.push(Number(res.headers["ratelimit-remaining"]));
    }
    if ("TRUST_PROXY" in proxyEnv) {
      // Each forwarded client has a bucket of its own (the account lock above still held).
      expect(remaining).toEqual([AUTH_LIMIT - 1, AUTH_LIMIT - 1, AUTH_LIMIT - 1]);
    } else {
      // X-Forwarded-For from an untrusted peer is ignored: one bucket, shrinking, then 429.
      expect(remaining[1]).toBe(remaining[0] - 1);
      expect(remaining[2]).toBe(remaining[1] - 1);
      let res: PlatformResponse<ErrorEnvelope>;
      let sent = 0;
      do {
        res = await loginFrom(`nobody_${randomUUID()}@example.com`, "x");
        sent++;
      } while (res.status !== 429 && sent <= AUTH_LIMIT);
      expect(res.status).toBe(429);
      expect(res.headers["ratelimit-limit"]).toBe(String(AUTH_LIMIT));
    }
  });
});

function withoutRequestId<T extends PlatformResponse>(res: T) {
  const body = res.body as ErrorEnvelope;
  return { status: res.status, body: { ...body, error: { ...body.error, requestId: "" } } };
}

/**
 * Runs two requests alternately, several times, and checks their median
 * times are of one class (within 4×, with a 10 ms floor against scheduler
 * noise); returns the last answers.
 */
async function timed<T extends PlatformResponse>(
  a: () => Promise<T>,
  b: () => Promise<T>,
): Promise<{ first: T; second: T }> {
  const times: [number[], number[]] = [[], []];
  let first!: T;
  let second!: T;
  for (let i = 0; i < 5; i++) {
    let started = performance.now();
    first = await a();
    times[0].push(performance.now() - started);
    started = performance.now();
    second = await b();
    times[1].push(performance.now() - started);
  }
  const [ma, mb] = times.map((t) => [...t].sort((x, y) => x - y)[2]);
  expect(Math.max(ma, mb, 10) / Math.max(Math.min(ma, mb), 10)).toBeLessThan(4);
  return { first, second };
}
