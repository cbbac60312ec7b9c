import { randomBytes, randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import type { Service, ServiceSchema } from "moleculer";
import { secretContext } from "../../lib/contracts/notifications";
import { infrastructureOf } from "../../lib/infra";
import { durableChannel } from "../../lib/messaging/channel";
import type { MessageEnvelope } from "../../lib/messaging/envelope";
import { EventTypes, Topics } from "../../lib/messaging/topics";
import UsersService from "../../services/users/users.service";
import { Platform, PlatformResponse, startPlatform, withRealServers } from "../helpers/platform";
import { adaptersFor, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The users service end to end: real broker, real HTTP through the gateway,
 * real database — embedded (SQLite :memory:, in-process KV), and MariaDB +
 * Redis when TEST_MYSQL_URL and TEST_REDIS_URL are set. Every test makes its
 * own accounts (unique emails); the only shared thing is the running node.
 * Reset emails are read the way the notifications service will read them: a
 * consumer group on `user.events`.
 */
const available = adaptersFor("mysql", "redis");
const modes =
  available.includes("mysql") && available.includes("redis")
    ? ["embedded", "mariadb+redis"]
    : ["embedded"];

interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}
interface ErrorBody {
  error: {
    type: string;
    message: string;
    code: number;
    requestId: string;
    details: { field?: string }[];
  };
}
interface Profile {
  id: string;
  email: string;
  name: string;
  phone: string | null;
  role: string;
  emailVerified: boolean;
}
interface Address {
  id: string;
  name: string;
  city: string;
  country: string;
  isDefault: boolean;
}
/** PasswordResetRequested as it travels, plus what the probe reads from it. */
interface ResetRequested {
  userId: string;
  email: string;
  name: string;
  sealedResetLink: string;
  expiresAt: string;
  /** Opened by the probe as the notifications service does, and the token it carries. */
  resetUrl: string;
  token: string;
  /** The payload as it travelled, for what it must not hold. */
  asPublished: string;
}

const PASSWORD = "correct horse battery staple";
const NEW_PASSWORD = "a completely new passphrase";
const RESET_URL = "https://shop.example/reset-password";

/** A test-only consumer of user.events, like notifications will be. */
function userEventsProbe(): {
  service: ServiceSchema;
  received: MessageEnvelope<ResetRequested>[];
} {
  const received: MessageEnvelope<ResetRequested>[] = [];
  const service: ServiceSchema = {
    name: "user-events-probe",
    channels: {
      [Topics.UserEvents]: durableChannel<ResetRequested>(Topics.UserEvents, {
        group: "users-e2e-probe",
        handler(this: Service, envelope) {
          const payload = envelope.payload;
          if (envelope.type === EventTypes.PasswordResetRequested) {
            const sealer = infrastructureOf(this.broker).messageSealer();
            const context = secretContext("password-reset", payload.userId, payload.email);
            payload.asPublished = JSON.stringify(payload);
            payload.resetUrl = sealer.open(payload.sealedResetLink, context);
            payload.token = new URL(payload.resetUrl).searchParams.get("token") ?? "";
          }
          received.push(envelope);
        },
      }),
    },
  };
  return { service, received };
}

/** Starts users + gateway (+ the probe) in the given mode, with env on top of the suite's. */
async function startUsers(mode: string, env: Record<string, string> = {}) {
  const real = mode === "embedded" ? undefined : withRealServers("mysql", "redis");
  const probe = userEventsProbe();
  const platform = await startPlatform({
    services: [UsersService, probe.service],
    env: {
      // Many auth calls come from one address: the gateway's per-IP limits are not under test here.
      RATE_LIMIT_MAX: "0",
      AUTH_RATE_LIMIT_MAX: "0",
      LOGIN_MAX_FAILURES: "10",
      LOGIN_FAILURE_WINDOW: "900",
      PASSWORD_RESET_URL: RESET_URL,
      ...real?.env,
      ...env,
    },
  });
  return {
    platform,
    received: probe.received,
    async stop() {
      await platform.stop();
      await real?.cleanup();
    },
  };
}

const newEmail = () => `${uniqueName("user")}@example.com`;
const withoutRequestId = (body: ErrorBody) => ({ error: { ...body.error, requestId: undefined } });
const fieldsOf = (res: PlatformResponse) =>
  (res.body as ErrorBody).error.details.map((d) => d.field);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

describe.each(modes)("users end to end (%s)", (mode) => {
  const adminEmail = `${uniqueName("admin")}@example.com`;
  // Generated per run: no password lives in the code.
  const adminPassword = randomBytes(18).toString("base64url");
  let node: Awaited<ReturnType<typeof startUsers>>;
  let api: Platform["request"];

  beforeAll(async () => {
    node = await startUsers(mode, { ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: adminPassword });
    api = node.platform.request;
  });

  afterAll(async () => {
    await node?.stop();
  });

  async function registered(email = newEmail(), password = PASSWORD) {
    const res = await api<Profile>("POST", "/auth/register", {
      body: { email, password, name: "Ann Example" },
    });
    expect(res.status).toBe(201);
    return { email, password, user: res.body };
  }

  async function loggedIn(email: string, password = PASSWORD): Promise<TokenPair> {
    const res = await api<TokenPair>("POST", "/auth/login", { body: { email, password } });
    expect(res.status).toBe(200);
    return res.body;
  }

  async function resetMessageFor(email: string): Promise<ResetRequested> {
    const envelope = await waitFor(() =>
      node.received.find(
        (m) => m.type === EventTypes.PasswordResetRequested && m.payload.email === email,
      ),
    );
    return envelope.payload;
  }

  describe("registration", () => {
    it("creates a customer with a normalised email and no internals", async () => {
      const email = newEmail();
      const res = await api<Profile>("POST", "/auth/register", {
        body: { email: `  ${email.toUpperCase()} `, password: PASSWORD, name: "Ann Example" },
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        email,
        name: "Ann Example",
        phone: null,
        role: "customer",
        emailVerified: false,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      await waitFor(() =>
        node.received.find(
          (m) => m.type === EventTypes.UserRegistered && m.aggregateId === res.body.id,
        ),
      );
    });

    it("answers 409 for an email that already has an account, whatever its case", async () => {
      const { email } = await registered();
      const res = await api("POST", "/auth/register", {
        body: { email: email.toUpperCase(), password: PASSWORD, name: "Someone Else" },
      });
      expect(res.status).toBe(409);
    });

    it.each([
      ["short", "Zq9#kLm"],
      ["129 characters long", "aB3$".repeat(32) + "x"],
      ["common", "Password123"],
      ["equal to the email", "SAME-AS-EMAIL"],
    ])("refuses a password that is %s, naming the field", async (_why, candidate) => {
      const email = newEmail();
      const password = candidate === "SAME-AS-EMAIL" ? email : candidate;
      const res = await api("POST", "/auth/register", { body: { email, password, name: "Ann" } });
      expect(res.status).toBe(400);
      expect(fieldsOf(res)).toContain("password");
    });

    it("accepts a 128-character password and logs in with it, untruncated", async () => {
      const password = "aB3$".repeat(32);
      const { email } = await registered(newEmail(), password);
      await loggedIn(email, password);
      const truncated = await api("POST", "/auth/login", {
        body: { email, password: password.slice(0, 72) },
      });
      expect(truncated.status).toBe(401);
    });

    it("refuses unknown fields, such as a role", async () => {
      const res = await api("POST", "/auth/register", {
        body: { email: newEmail(), password: PASSWORD, name: "Ann", role: "admin" },
      });
      expect(res.status).toBe(400);
      expect(fieldsOf(res)).toContain("role");
    });
  });

  describe("login", () => {
    it("returns an access token that opens /users/me, and a refresh token", async () => {
      const { email, user } = await registered();
      const tokens = await loggedIn(email.toUpperCase());
      expect(tokens.expiresIn).toBeGreaterThan(0);
      expect(tokens.expiresIn).toBeLessThanOrEqual(900);
      expect(tokens.refreshToken).toMatch(/^[A-Za-z0-9_-]{43,}$/);
      const me = await api<Profile>("GET", "/users/me", { token: tokens.accessToken });
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ id: user.id, email, role: "customer" });
    });

    it("answers a wrong password and an unknown email identically", async () => {
      const { email } = await registered();
      const wrongPassword = await api<ErrorBody>("POST", "/auth/login", {
        body: { email, password: "not the password" },
      });
      const unknownEmail = await api<ErrorBody>("POST", "/auth/login", {
        body: { email: newEmail(), password: "not the password" },
      });
      expect(wrongPassword.status).toBe(401);
      expect(unknownEmail.status).toBe(401);
      expect(withoutRequestId(unknownEmail.body)).toEqual(withoutRequestId(wrongPassword.body));
      expect(wrongPassword.body.error.message).toBe("Invalid email or password");
    });

    it("locks the account after 10 failures: the 11th attempt gets 429, right password or not", async () => {
      const { email } = await registered();
      for (let i = 0; i < 10; i++) {
        const res = await api("POST", "/auth/login", {
          body: { email, password: `wrong guess ${i}` },
        });
        expect(res.status).toBe(401);
      }
      const withRightPassword = await api("POST", "/auth/login", {
        body: { email, password: PASSWORD },
      });
      expect(withRightPassword.status).toBe(429);
      expect(Number(withRightPassword.headers["retry-after"])).toBeGreaterThan(0);
      const wrongAgain = await api("POST", "/auth/login", {
        body: { email, password: "wrong again" },
      });
      expect(wrongAgain.status).toBe(429);
    });

    it("does not take a refresh token as an access token", async () => {
      const { email } = await registered();
      const { refreshToken } = await loggedIn(email);
      expect((await api("GET", "/users/me", { token: refreshToken })).status).toBe(401);
    });

    it("logs the configured admin in with role admin", async () => {
      const tokens = await loggedIn(adminEmail.toUpperCase(), adminPassword);
      expect(jwt.decode(tokens.accessToken)).toMatchObject({ role: "admin" });
      const me = await api<Profile>("GET", "/users/me", { token: tokens.accessToken });
      expect(me.body).toMatchObject({ email: adminEmail, role: "admin" });
    });
  });

  describe("refresh and logout", () => {
    it("rotates: a new pair each time, and the old refresh token stops working", async () => {
      const { email } = await registered();
      const first = await loggedIn(email);
      const second = await api<TokenPair>("POST", "/auth/refresh", {
        body: { refreshToken: first.refreshToken },
      });
      expect(second.status).toBe(200);
      expect(second.body.refreshToken).not.toBe(first.refreshToken);
      expect((await api("GET", "/users/me", { token: second.body.accessToken })).status).toBe(200);

      const replay = await api("POST", "/auth/refresh", {
        body: { refreshToken: first.refreshToken },
      });
      expect(replay.status).toBe(401);
      // The replay revoked the whole family: the newest token is dead too.
      const newest = await api("POST", "/auth/refresh", {
        body: { refreshToken: second.body.refreshToken },
      });
      expect(newest.status).toBe(401);
    });

    it("lets exactly one of two concurrent refreshes with one token succeed", async () => {
      const { email } = await registered();
      const { refreshToken } = await loggedIn(email);
      const results = await Promise.all([
        api("POST", "/auth/refresh", { body: { refreshToken } }),
        api("POST", "/auth/refresh", { body: { refreshToken } }),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    });

    it("refuses unknown refresh tokens", async () => {
      const res = await api("POST", "/auth/refresh", {
        body: { refreshToken: randomBytes(32).toString("base64url") },
      });
      expect(res.status).toBe(401);
    });

    it("logs out: 204, and the refresh token no longer works", async () => {
      const { email } = await registered();
      const { refreshToken } = await loggedIn(email);
      const res = await api("POST", "/auth/logout", { body: { refreshToken } });
      expect(res.status).toBe(204);
      expect((await api("POST", "/auth/refresh", { body: { refreshToken } })).status).toBe(401);
    });
  });

  describe("password reset", () => {
    it("answers known and unknown emails identically, in about the same time", async () => {
      const { email: known } = await registered();
      const forgot = (email: string) => api("POST", "/auth/password/forgot", { body: { email } });
      const knownTimes: number[] = [];
      const unknownTimes: number[] = [];
      let knownRes: PlatformResponse | undefined;
      let unknownRes: PlatformResponse | undefined;
      for (let i = 0; i < 5; i++) {
        let started = performance.now();
        knownRes = await forgot(known);
        knownTimes.push(performance.now() - started);
        started = performance.now();
        unknownRes = await forgot(newEmail());
        unknownTimes.push(performance.now() - started);
      }
      expect(knownRes!.status).toBe(202);
      expect(unknownRes!.status).toBe(202);
      expect(unknownRes!.body).toEqual(knownRes!.body);
      const [knownMs, unknownMs] = [median(knownTimes), median(unknownTimes)];
      expect(knownMs).toBeLessThan(1000);
      expect(unknownMs).toBeLessThan(1000);
      // A floor of 10 ms keeps scheduler noise on tiny numbers from reading as a ratio.
      expect(
        Math.max(knownMs, unknownMs, 10) / Math.max(Math.min(knownMs, unknownMs), 10),
      ).toBeLessThan(4);
    });

    it("publishes PasswordResetRequested whose token sets a new password, once", async () => {
      const { email, user } = await registered();
      const session = await loggedIn(email);
      expect((await api("POST", "/auth/password/forgot", { body: { email } })).status).toBe(202);
      const message = await resetMessageFor(email);
      expect(message).toMatchObject({ userId: user.id, email, name: "Ann Example" });
      expect(message.resetUrl).toBe(`${RESET_URL}?token=${message.token}`);
      expect(Buffer.from(message.token, "base64url").length).toBeGreaterThanOrEqual(32);
      // Sealed for the notification: the outbox row and the channel never hold the token.
      expect(message.asPublished).toContain('"sealedResetLink":"sealed:v1:');
      expect(message.asPublished).not.toContain(message.token);
      expect(new Date(message.expiresAt).getTime()).toBeGreaterThan(Date.now());

      const reset = await api("POST", "/auth/password/reset", {
        body: { token: message.token, password: NEW_PASSWORD },
      });
      expect(reset.status).toBe(204);

      const again = await api("POST", "/auth/password/reset", {
        body: { token: message.token, password: "yet another passphrase" },
      });
      expect(again.status).toBe(400);
      expect(fieldsOf(again)).toContain("token");
      // Every session ended; only the new password logs in.
      expect(
        (await api("POST", "/auth/refresh", { body: { refreshToken: session.refreshToken } }))
          .status,
      ).toBe(401);
      expect(
        (await api("POST", "/auth/login", { body: { email, password: PASSWORD } })).status,
      ).toBe(401);
      await loggedIn(email, NEW_PASSWORD);
    });

    it("applies the password policy to the new password", async () => {
      const { email } = await registered();
      await api("POST", "/auth/password/forgot", { body: { email } });
      const { token } = await resetMessageFor(email);
      const res = await api("POST", "/auth/password/reset", {
        body: { token, password: "password1" },
      });
      expect(res.status).toBe(400);
      expect(fieldsOf(res)).toContain("password");
    });

    it("refuses a made-up token", async () => {
      const res = await api("POST", "/auth/password/reset", {
        body: { token: randomBytes(32).toString("base64url"), password: NEW_PASSWORD },
      });
      expect(res.status).toBe(400);
    });
  });

  describe("profile", () => {
    it("changes name and phone, and nothing else", async () => {
      const { email } = await registered();
      const { accessToken } = await loggedIn(email);
      const updated = await api<Profile>("PATCH", "/users/me", {
        token: accessToken,
        body: { name: "Ann Renamed", phone: "+49 30 1234567" },
      });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({
        name: "Ann Renamed",
        phone: "+49 30 1234567",
        role: "customer",
      });

      for (const forbidden of [
        { role: "admin" },
        { email: newEmail() },
        { emailVerified: true },
        { shoeSize: 42 },
      ]) {
        const res = await api("PATCH", "/users/me", { token: accessToken, body: forbidden });
        expect(res.status).toBe(400);
        expect(fieldsOf(res)).toContain(Object.keys(forbidden)[0]);
      }
      const me = await api<Profile>("GET", "/users/me", { token: accessToken });
      expect(me.body).toMatchObject({
        email,
        role: "customer",
        emailVerified: false,
        name: "Ann Renamed",
      });
    });

    it("needs a signed-in user", async () => {
      expect((await api("GET", "/users/me")).status).toBe(401);
      expect((await api("GET", "/users/me/addresses")).status).toBe(401);
    });
  });

  describe("addresses", () => {
    const home = {
      name: "Ann Example",
      line1: "1 Main St",
      city: "Berlin",
      postalCode: "10115",
      country: "de",
    };

    it("creates, lists, reads, changes and deletes the user's addresses", async () => {
      const { email } = await registered();
      const { accessToken: token } = await loggedIn(email);
      const created = await api<Address>("POST", "/users/me/addresses", { token, body: home });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ ...home, country: "DE", isDefault: true, line2: null });

      const second = await api<Address>("POST", "/users/me/addresses", {
        token,
        body: { ...home, line1: "2 Work St", line2: "Floor 3", isDefault: true },
      });
      expect(second.status).toBe(201);
      const list = await api<{ items: Address[]; page: number; pageSize: number; total: number }>(
        "GET",
        "/users/me/addresses",
        { token },
      );
      expect(list.body).toMatchObject({ page: 1, total: 2 });
      expect(list.body.items.filter((a) => a.isDefault).map((a) => a.id)).toEqual([second.body.id]);

      const one = await api<Address>("GET", `/users/me/addresses/${created.body.id}`, { token });
      expect(one.body).toMatchObject({ id: created.body.id, isDefault: false });

      const changed = await api<Address>("PATCH", `/users/me/addresses/${created.body.id}`, {
        token,
        body: { city: "Hamburg", postalCode: "20095" },
      });
      expect(changed.status).toBe(200);
      expect(changed.body).toMatchObject({ city: "Hamburg", line1: "1 Main St" });

      expect(
        (await api("DELETE", `/users/me/addresses/${created.body.id}`, { token })).status,
      ).toBe(204);
      expect((await api("GET", `/users/me/addresses/${created.body.id}`, { token })).status).toBe(
        404,
      );
      const after = await api<{ total: number }>("GET", "/users/me/addresses", { token });
      expect(after.body.total).toBe(1);
    });

    it("validates the address, naming the field", async () => {
      const { email } = await registered();
      const { accessToken: token } = await loggedIn(email);
      const badCountry = await api("POST", "/users/me/addresses", {
        token,
        body: { ...home, country: "XX" },
      });
      expect(badCountry.status).toBe(400);
      expect(fieldsOf(badCountry)).toContain("country");
      const extra = await api("POST", "/users/me/addresses", {
        token,
        body: { ...home, userId: "someone" },
      });
      expect(extra.status).toBe(400);
      const missing = await api("POST", "/users/me/addresses", {
        token,
        body: { ...home, city: undefined },
      });
      expect(fieldsOf(missing)).toContain("city");
    });

    it("never shows or changes another user's address (404, not 403)", async () => {
      const ann = await registered();
      const bob = await registered();
      const annToken = (await loggedIn(ann.email)).accessToken;
      const bobToken = (await loggedIn(bob.email)).accessToken;
      const annAddress = await api<Address>("POST", "/users/me/addresses", {
        token: annToken,
        body: home,
      });
      await api("POST", "/users/me/addresses", { token: bobToken, body: { ...home, name: "Bob" } });
      const path = `/users/me/addresses/${annAddress.body.id}`;

      expect((await api("GET", path, { token: bobToken })).status).toBe(404);
      expect((await api("PATCH", path, { token: bobToken, body: { city: "Paris" } })).status).toBe(
        404,
      );
      expect((await api("DELETE", path, { token: bobToken })).status).toBe(404);

      const annList = await api<{ items: Address[] }>("GET", "/users/me/addresses", {
        token: annToken,
      });
      expect(annList.body.items.map((a) => a.name)).toEqual(["Ann Example"]);
      const untouched = await api<Address>("GET", path, { token: annToken });
      expect(untouched.body.city).toBe("Berlin");
    });
  });

  describe("internal actions", () => {
    it("users.get and users.getAddress answer other services, scoped by owner", async () => {
      const { email, user } = await registered();
      const { accessToken: token } = await loggedIn(email);
      const address = await api<Address>("POST", "/users/me/addresses", {
        token,
        body: {
          name: "Ann",
          line1: "1 Main St",
          city: "Berlin",
          postalCode: "10115",
          country: "DE",
        },
      });
      const broker = node.platform.broker;
      expect(await broker.call("users.get", { id: user.id })).toEqual({
        id: user.id,
        email,
        name: "Ann Example",
        phone: null,
        role: "customer",
      });
      await expect(broker.call("users.get", { id: randomUUID() })).rejects.toMatchObject({
        code: 404,
      });
      expect(
        await broker.call("users.getAddress", { userId: user.id, addressId: address.body.id }),
      ).toMatchObject({
        id: address.body.id,
        city: "Berlin",
      });
      const stranger = (await registered()).user;
      await expect(
        broker.call("users.getAddress", { userId: stranger.id, addressId: address.body.id }),
      ).rejects.toMatchObject({ code: 404 });
    });

    it("are not routed by the gateway", async () => {
      const { email, user } = await registered();
      const { accessToken: token } = await loggedIn(email);
      expect((await api("GET", `/users/${user.id}`, { token })).status).toBe(404);
    });
  });
});

describe.each(modes)("token expiry (%s)", (mode) => {
  let node: Awaited<ReturnType<typeof startUsers>>;
  let api: Platform["request"];

  beforeAll(async () => {
    node = await startUsers(mode, { PASSWORD_RESET_TTL: "1", REFRESH_TOKEN_TTL: "1" });
    api = node.platform.request;
  });

  afterAll(async () => {
    await node?.stop();
  });

  const registeredEmail = async () => {
    const email = newEmail();
    const res = await api("POST", "/auth/register", {
      body: { email, password: PASSWORD, name: "Ann" },
    });
    expect(res.status).toBe(201);
    return email;
  };
  const afterSeconds = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000 + 100));

  it("refuses a reset token once it has expired", async () => {
    const email = await registeredEmail();
    await api("POST", "/auth/password/forgot", { body: { email } });
    const message = await waitFor(() =>
      node.received.find(
        (m) => m.type === EventTypes.PasswordResetRequested && m.payload.email === email,
      ),
    );
    await waitFor(() => Date.now() > new Date(message.payload.expiresAt).getTime() + 50, {
      timeoutMs: 3000,
    });
    const res = await api("POST", "/auth/password/reset", {
      body: { token: message.payload.token, password: NEW_PASSWORD },
    });
    expect(res.status).toBe(400);
    expect((await api("POST", "/auth/login", { body: { email, password: PASSWORD } })).status).toBe(
      200,
    );
  });

  it("refuses an expired refresh token", async () => {
    const email = await registeredEmail();
    const login = await api<TokenPair>("POST", "/auth/login", {
      body: { email, password: PASSWORD },
    });
    await afterSeconds(1);
    const res = await api("POST", "/auth/refresh", {
      body: { refreshToken: login.body.refreshToken },
    });
    expect(res.status).toBe(401);
  });
});
