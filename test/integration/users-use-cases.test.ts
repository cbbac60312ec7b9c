import { generateKeyPairSync, randomBytes } from "node:crypto";
import type { Transaction } from "sequelize";
import { signAccessToken, verifyAccessToken } from "../../lib/auth/jwt";
import { secretContext } from "../../lib/contracts/notifications";
import { AppError } from "../../lib/errors";
import { MemoryKeyValueStore } from "../../lib/infra/kv/memory";
import { openDatabase, RelationalDatabase } from "../../lib/infra/relational";
import { AuthUseCases } from "../../services/users/auth.use-cases";
import { BackgroundTasks } from "../../services/users/background-tasks";
import { hashOpaqueToken } from "../../services/users/domain/opaque-tokens";
import { LoginThrottle } from "../../services/users/domain/login-throttle";
import { usersMigrations } from "../../services/users/migrations";
import { ProfileUseCases } from "../../services/users/profile.use-cases";
import type { OutboxMessageInput } from "../../lib/messaging/outbox";
import { MessageSealer } from "../../lib/messaging/sealing";
import type { UsersOutbox } from "../../services/users/user-events";
import { UserRepository } from "../../services/users/user-repository";
import { adaptersFor, dropMysqlDatabases, freshMysqlUrl, uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * The users use cases over a real database (SQLite, and MariaDB when
 * TEST_MYSQL_URL is set), without a broker: the persistence rules that HTTP
 * tests can only see from outside — conditional updates under concurrency,
 * revocation committed before a 401, scoping by owner. The outbox is recorded
 * in memory here (its own suite covers publishing), but only for committed
 * transactions, like the real one.
 */
class RecordingOutbox implements UsersOutbox {
  readonly committed: OutboxMessageInput[] = [];
  async enqueue(tx: Transaction, message: OutboxMessageInput): Promise<string> {
    tx.afterCommit(() => void this.committed.push(message));
    return "recorded";
  }
}

const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
const tokenSettings = { issuer: "test", audience: "test-api", ttlSec: 300 };
const strongPassword = "correct horse battery staple";
const sealer = new MessageSealer(randomBytes(32));

/** The reset link a PasswordResetRequested carries, opened as the notifications service does. */
function resetLinkOf(message: OutboxMessageInput): URL {
  const { userId, email, sealedResetLink } = message.payload as Record<string, string>;
  return new URL(sealer.open(sealedResetLink, secretContext("password-reset", userId, email)));
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    return err as AppError;
  }
  throw new Error("expected the call to fail");
}

describe.each(adaptersFor("mysql"))("users use cases on %s", (adapter) => {
  let db: RelationalDatabase;
  let mysqlUrl: string | undefined;
  let outbox: RecordingOutbox;
  let kv: MemoryKeyValueStore;
  let background: BackgroundTasks;
  let auth: AuthUseCases;
  let profile: ProfileUseCases;
  let repository: UserRepository;

  beforeAll(async () => {
    mysqlUrl = adapter === "mysql" ? freshMysqlUrl() : undefined;
    db = await openDatabase("users", {
      mysqlUrl,
      perServiceDatabase: true,
      sqliteStorage: ":memory:",
    });
    await db.migrate(usersMigrations);
    outbox = new RecordingOutbox();
    kv = new MemoryKeyValueStore();
    background = new BackgroundTasks((task, err) => {
      throw new Error(`${task} failed: ${String(err)}`);
    });
    repository = new UserRepository(db.sequelize);
    const database = db;
    profile = new ProfileUseCases(repository, database);
    auth = new AuthUseCases({
      repository,
      database,
      outbox,
      throttle: new LoginThrottle(kv, { maxFailures: 3, windowSec: 60 }),
      signAccessToken: (claims) => signAccessToken(claims, keys.privateKey, tokenSettings),
      sealer,
      background,
      settings: {
        accessTokenTtlSec: 300,
        refreshTokenTtlSec: 3600,
        passwordResetTtlSec: 600,
        passwordResetUrl: "https://shop.example/reset",
      },
      warn: () => undefined,
    });
  });

  afterAll(async () => {
    await background?.drain();
    await db?.close();
    await kv?.close();
    if (mysqlUrl) await dropMysqlDatabases(mysqlUrl);
  });

  const newEmail = () => `${uniqueName("u")}@Example.com`;

  async function registered(email = newEmail()) {
    const user = await auth.register({ email, password: strongPassword, name: "Ann" });
    return { user, email: user.email };
  }

  it("registers with a normalised email and publishes UserRegistered on commit", async () => {
    const email = newEmail();
    const user = await auth.register({
      email: `  ${email} `,
      password: strongPassword,
      name: "Ann",
    });
    expect(user).toMatchObject({ email: email.toLowerCase(), role: "customer", phone: null });
    expect(user).not.toHaveProperty("passwordHash");
    expect(outbox.committed).toContainEqual(
      expect.objectContaining({
        topic: "user.events",
        type: "UserRegistered",
        aggregateId: user.id,
        payload: { userId: user.id, email: user.email, name: "Ann" },
      }),
    );
  });

  it("refuses a second account for the same email, whatever its case, and publishes nothing", async () => {
    const { email } = await registered();
    const published = outbox.committed.length;
    const err = await failure(
      auth.register({ email: email.toUpperCase(), password: strongPassword, name: "Bob" }),
    );
    expect(err.code).toBe(409);
    expect(outbox.committed).toHaveLength(published);
  });

  it("issues a verifiable access token and a refresh token on login", async () => {
    const { user, email } = await registered();
    const pair = await auth.login({ email, password: strongPassword });
    expect(verifyAccessToken(pair.accessToken, keys.publicKey, tokenSettings)).toEqual({
      sub: user.id,
      role: "customer",
    });
    expect(pair.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(pair.expiresIn).toBe(300);
  });

  it("rotates refresh tokens and revokes the family when a used one comes back", async () => {
    const { email } = await registered();
    const first = await auth.login({ email, password: strongPassword });
    const second = await auth.refresh(first.refreshToken);
    const third = await auth.refresh(second.refreshToken);
    expect((await failure(auth.refresh(first.refreshToken))).code).toBe(401);
    // The reuse revoked the family, the legitimate holder's newest token included.
    expect((await failure(auth.refresh(third.refreshToken))).code).toBe(401);
  });

  it("lets exactly one of many concurrent refreshes with one token succeed", async () => {
    const { email } = await registered();
    const { refreshToken } = await auth.login({ email, password: strongPassword });
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => auth.refresh(refreshToken)),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results)
      if (r.status === "rejected") expect(r.reason).toMatchObject({ name: "AppError", code: 401 });
  });

  it("keeps other sessions when one is logged out", async () => {
    const { email } = await registered();
    const phone = await auth.login({ email, password: strongPassword });
    const laptop = await auth.login({ email, password: strongPassword });
    await auth.logout(phone.refreshToken);
    await auth.logout(phone.refreshToken); // idempotent
    const stored = await repository.findRefreshTokenByHash(hashOpaqueToken(phone.refreshToken));
    expect(stored).toMatchObject({ usedAt: null, revokedAt: expect.any(Date) });
    expect((await failure(auth.refresh(phone.refreshToken))).code).toBe(401);
    await expect(auth.refresh(laptop.refreshToken)).resolves.toHaveProperty("accessToken");
  });

  it("resets a password once with the emailed token, ending every session", async () => {
    const { user, email } = await registered();
    const session = await auth.login({ email, password: strongPassword });
    await auth.requestPasswordReset(email.toUpperCase());
    await background.drain();
    const message = await waitFor(() =>
      outbox.committed.find(
        (m) => m.type === "PasswordResetRequested" && m.aggregateId === user.id,
      ),
    );
    const link = resetLinkOf(message);
    expect(`${link.origin}${link.pathname}`).toBe("https://shop.example/reset");
    const token = link.searchParams.get("token")!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    // Sealed: the message (outbox row, channel) never holds the token in the clear.
    expect(JSON.stringify(message)).not.toContain(token);
    const { expiresAt } = message.payload as Record<string, string>;
    expect(new Date(expiresAt).getTime()).toBeGreaterThan(Date.now());

    await auth.resetPassword({ token, password: "a brand new passphrase" });
    expect((await failure(auth.refresh(session.refreshToken))).code).toBe(401);
    expect((await failure(auth.login({ email, password: strongPassword }))).code).toBe(401);
    await expect(auth.login({ email, password: "a brand new passphrase" })).resolves.toBeDefined();
    const reused = await failure(auth.resetPassword({ token, password: "yet another passphrase" }));
    expect(reused.code).toBe(400);
  });

  it("writes nothing for a reset request of an unknown email", async () => {
    const before = outbox.committed.length;
    await auth.requestPasswordReset(newEmail());
    await background.drain();
    expect(outbox.committed).toHaveLength(before);
  });

  it("applies the password policy to the new password, naming the field", async () => {
    const { user, email } = await registered();
    await auth.requestPasswordReset(email);
    await background.drain();
    const message = outbox.committed.find(
      (m) => m.type === "PasswordResetRequested" && m.aggregateId === user.id,
    )!;
    const err = await failure(
      auth.resetPassword({
        token: resetLinkOf(message).searchParams.get("token")!,
        password: email,
      }),
    );
    expect(err.code).toBe(400);
    expect(err.data).toMatchObject({ details: [{ field: "password" }] });
  });

  it("provisions the admin account idempotently and takes over an existing account", async () => {
    const email = newEmail();
    expect(await auth.provisionAdmin(email, "admin passphrase one")).toBe("created");
    expect(await auth.provisionAdmin(email, "admin passphrase one")).toBe("unchanged");
    const concurrent = await Promise.all([
      auth.provisionAdmin(email, "admin passphrase two"),
      auth.provisionAdmin(email, "admin passphrase two"),
    ]);
    expect(concurrent.every((o) => o === "promoted" || o === "unchanged")).toBe(true);
    const pair = await auth.login({ email, password: "admin passphrase two" });
    expect(verifyAccessToken(pair.accessToken, keys.publicKey, tokenSettings)?.role).toBe("admin");

    const { email: customer } = await registered();
    const customerSession = await auth.login({ email: customer, password: strongPassword });
    expect(await auth.provisionAdmin(customer, "admin passphrase three")).toBe("promoted");
    expect((await failure(auth.refresh(customerSession.refreshToken))).code).toBe(401);
  });

  it("keeps address books apart and one default per user", async () => {
    const { user: ann } = await registered();
    const { user: bob } = await registered();
    const home = await profile.addAddress(ann.id, {
      name: "Ann",
      line1: "1 Main St",
      city: "Berlin",
      postalCode: "10115",
      country: "de",
    });
    expect(home).toMatchObject({ country: "DE", isDefault: true, line2: null });
    const work = await profile.addAddress(ann.id, {
      name: "Ann at work",
      line1: "2 Side St",
      city: "Berlin",
      postalCode: "10117",
      country: "DE",
      isDefault: true,
    });
    const list = await profile.listAddresses(ann.id, {});
    expect(list.total).toBe(2);
    expect(list.items.filter((a) => a.isDefault).map((a) => a.id)).toEqual([work.id]);

    expect((await failure(profile.address(bob.id, home.id))).code).toBe(404);
    expect((await failure(profile.updateAddress(bob.id, home.id, { city: "Paris" }))).code).toBe(
      404,
    );
    expect((await failure(profile.removeAddress(bob.id, home.id))).code).toBe(404);
    expect((await profile.listAddresses(bob.id, {})).items).toEqual([]);
    expect((await profile.address(ann.id, home.id)).city).toBe("Berlin");
  });
});
