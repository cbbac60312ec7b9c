import { generateKeyPairSync, KeyObject } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import jwt from "jsonwebtoken";
import { signAccessToken } from "../../lib/auth/jwt";
import { keyId } from "../../lib/auth/keys";
import UsersService from "../../services/users/users.service";
import { Platform, startPlatform } from "../helpers/platform";
import { captureLogs } from "../security/log-capture";

/**
 * Replacing the JWT signing key, as README's steps do it, on a real node
 * through the gateway: before, during (the gateway trusts both public keys,
 * users signs with the new one) and after (the old key dropped). The same
 * SQLite directory carries the account and its session through the restarts.
 * Nobody is logged out on the way, and no token of a key the node does not
 * trust gets in at any step.
 */
interface TokenPair {
  accessToken: string;
  refreshToken: string;
}

const PASSWORD = "correct horse battery staple";
const ISSUER = "moleculer-commerce";
const AUDIENCE = "moleculer-commerce-api";

function newKey(): { privateKey: KeyObject; privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    privateKey,
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

describe("JWT signing key rotation through the gateway", () => {
  const oldKey = newKey();
  const newKeyPair = newKey();
  const strangerKey = newKey();
  let storage: string;
  let platform: Platform | undefined;

  beforeAll(() => {
    storage = fs.mkdtempSync(path.join(os.tmpdir(), "key-rotation-"));
  });
  afterEach(async () => {
    await platform?.stop();
    platform = undefined;
  });
  afterAll(() => fs.rmSync(storage, { recursive: true, force: true }));

  const start = async (env: Record<string, string>) =>
    (platform = await startPlatform({
      services: [UsersService],
      env: { SQLITE_STORAGE: storage, ...env },
    }));
  const me = (token: string) => platform!.request("GET", "/users/me", { token });
  const kidOf = (token: string) =>
    (jwt.decode(token, { complete: true })?.header.kid as string) ?? null;
  /** What a users node still on `key` issues for `sub`. */
  const signedBy = (key: KeyObject, sub: string) =>
    signAccessToken({ sub, role: "customer" }, key, {
      issuer: ISSUER,
      audience: AUDIENCE,
      ttlSec: 300,
    });
  /** Valid claims for `sub` signed by `key`, naming `kid` in the header or no key at all. */
  const signedNaming = (key: KeyObject, sub: string, kid?: string) =>
    jwt.sign({ role: "customer", typ: "access" }, key, {
      algorithm: "ES256",
      subject: sub,
      issuer: ISSUER,
      audience: AUDIENCE,
      expiresIn: 300,
      ...(kid ? { keyid: kid } : {}),
    });
  const login = async (email: string) => {
    const res = await platform!.request<TokenPair>("POST", "/auth/login", {
      body: { email, password: PASSWORD },
    });
    expect(res.status).toBe(200);
    return res.body;
  };

  it("keeps everyone logged in while the new key replaces the old, and lets no other key in", async () => {
    // Before: one key signs and verifies.
    await start({ JWT_PRIVATE_KEY: oldKey.privatePem });
    const email = `rotation-${Date.now()}@example.com`;
    const registered = await platform!.request<{ id: string }>("POST", "/auth/register", {
      body: { email, password: PASSWORD, name: "Rita Rotation" },
    });
    expect(registered.status).toBe(201);
    const userId = registered.body.id;
    const before = await login(email);
    expect(kidOf(before.accessToken)).toBe(keyId(oldKey.privateKey));
    expect((await me(before.accessToken)).status).toBe(200);
    await platform!.stop();

    // During: the gateway trusts both public keys, users signs with the new one,
    // and each says so at start, by the ids the tokens carry.
    const logs = captureLogs();
    try {
      await start({
        JWT_PRIVATE_KEY: newKeyPair.privatePem,
        JWT_PUBLIC_KEY: oldKey.publicPem,
        LOG_LEVEL: "info",
      });
    } finally {
      logs.release();
    }
    const [newId, oldId] = [keyId(newKeyPair.privateKey), keyId(oldKey.privateKey)];
    expect(logs.recent.join("\n")).toContain(
      `Access tokens are accepted from keys ${newId}, ${oldId}`,
    );
    expect(logs.recent.join("\n")).toContain(`Access tokens are signed with key ${newId}`);
    expect((await me(before.accessToken)).status).toBe(200);
    const during = await login(email);
    expect(kidOf(during.accessToken)).toBe(keyId(newKeyPair.privateKey));
    expect((await me(during.accessToken)).status).toBe(200);
    // A users node not yet restarted still signs with the old key: accepted too.
    expect((await me(signedBy(oldKey.privateKey, userId))).status).toBe(200);
    // A token from before tokens named their key is tried against each trusted key.
    const unnamed = signedNaming(oldKey.privateKey, userId);
    expect(kidOf(unnamed)).toBeNull();
    expect((await me(unnamed)).status).toBe(200);
    // A key the node does not trust gets nothing, named or not, nor by naming a trusted key.
    const stranger = signedBy(strangerKey.privateKey, userId);
    expect((await me(stranger)).status).toBe(401);
    const posing = signedNaming(strangerKey.privateKey, userId, keyId(oldKey.privateKey));
    expect((await me(posing)).status).toBe(401);
    // A token signed by the old key but naming the new one is checked against the new one alone.
    const misnamed = signedNaming(oldKey.privateKey, userId, keyId(newKeyPair.privateKey));
    expect((await me(misnamed)).status).toBe(401);
    await platform!.stop();

    // After: the old public key dropped. Its tokens are refused; the sessions go on.
    await start({ JWT_PRIVATE_KEY: newKeyPair.privatePem });
    expect((await me(before.accessToken)).status).toBe(401);
    expect((await me(signedBy(oldKey.privateKey, userId))).status).toBe(401);
    expect((await me(during.accessToken)).status).toBe(200);
    // The session started before the rotation refreshes into a token of the new key.
    const refreshed = await platform!.request<TokenPair>("POST", "/auth/refresh", {
      body: { refreshToken: before.refreshToken },
    });
    expect(refreshed.status).toBe(200);
    expect(kidOf(refreshed.body.accessToken)).toBe(keyId(newKeyPair.privateKey));
    expect((await me(refreshed.body.accessToken)).status).toBe(200);
  });

  it("refuses to start with a public key ES256 cannot use", async () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 })
      .publicKey.export({ type: "spki", format: "pem" })
      .toString();
    await expect(
      start({ JWT_PRIVATE_KEY: newKeyPair.privatePem, JWT_PUBLIC_KEY: rsa }),
    ).rejects.toThrow(/JWT_PUBLIC_KEY must be an EC P-256 key/);
  });
});
