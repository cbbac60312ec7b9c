import { createHash, createPublicKey, generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { keyId, loadSigningKeys } from "../../lib/auth/keys";
import { signAccessToken, verifyAccessToken } from "../../lib/auth/jwt";
import { loadConfig } from "../../lib/config";

describe("JWT signing keys", () => {
  let dataDir: string;
  beforeEach(() => (dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "keys-"))));
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const settings = { issuer: "iss", audience: "aud", ttlSec: 60 };

  it("generates a key into DATA_DIR on first start, says so, and reuses it afterwards", () => {
    const logged: string[] = [];
    const first = loadSigningKeys(loadConfig({ DATA_DIR: dataDir }), (m) => logged.push(m));
    expect(first.source).toBe("generated");
    expect(logged.join()).toMatch(/generated a signing key/);
    const file = path.join(dataDir, "keys", "jwt-es256.pem");
    expect(fs.statSync(file).mode & 0o077).toBe(0); // readable by the owner only

    const second = loadSigningKeys(loadConfig({ DATA_DIR: dataDir }));
    expect(second.source).toBe("data-dir");
    const token = signAccessToken({ sub: "u1", role: "customer" }, first.privateKey!, settings);
    expect(verifyAccessToken(token, second.publicKeys, settings)).toEqual({
      sub: "u1",
      role: "customer",
    });
  });

  it("refuses to start in production without configured keys, and writes nothing", () => {
    expect(() =>
      loadSigningKeys(loadConfig({ NODE_ENV: "production", DATA_DIR: dataDir })),
    ).toThrow(/production needs JWT_PRIVATE_KEY/);
    expect(fs.existsSync(path.join(dataDir, "keys"))).toBe(false);
  });

  it("uses configured keys (a gateway may have only the public one)", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const privatePem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const publicPem = publicKey.export({ type: "spki", format: "pem" }).toString();
    const gateway = loadSigningKeys(
      loadConfig({ NODE_ENV: "production", JWT_PUBLIC_KEY: publicPem.replace(/\n/g, "\\n") }),
    );
    expect(gateway.privateKey).toBeUndefined();
    const token = signAccessToken({ sub: "u2", role: "admin" }, privateKey, settings);
    expect(verifyAccessToken(token, gateway.publicKeys, settings)).toEqual({
      sub: "u2",
      role: "admin",
    });
    const users = loadSigningKeys(
      loadConfig({ NODE_ENV: "production", JWT_PRIVATE_KEY: privatePem }),
    );
    expect(users.source).toBe("environment");
  });

  it("trusts every PEM block of JWT_PUBLIC_KEY and the signing key's own, each once", () => {
    const pair = () => generateKeyPairSync("ec", { namedCurve: "P-256" });
    const [signing, retiring] = [pair(), pair()];
    const spki = (k: typeof signing) =>
      k.publicKey.export({ type: "spki", format: "pem" }).toString();
    const keys = loadSigningKeys(
      loadConfig({
        NODE_ENV: "production",
        JWT_PRIVATE_KEY: signing.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        // As an env file carries them: one line, literal \n, the signing key's own repeated.
        JWT_PUBLIC_KEY: (spki(retiring) + spki(signing)).replace(/\n/g, "\\n"),
      }),
    );
    expect(keys.publicKeys.map(keyId)).toEqual([
      keyId(signing.publicKey),
      keyId(retiring.publicKey),
    ]);
    for (const { privateKey } of [signing, retiring])
      expect(
        verifyAccessToken(
          signAccessToken({ sub: "u3", role: "customer" }, privateKey, settings),
          keys.publicKeys,
          settings,
        ),
      ).toEqual({ sub: "u3", role: "customer" });
    const stranger = signAccessToken({ sub: "u3", role: "customer" }, pair().privateKey, settings);
    expect(verifyAccessToken(stranger, keys.publicKeys, settings)).toBeNull();
  });

  it("names a key by its RFC 7638 thumbprint, the same from its private and public halves", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const { x, y } = publicKey.export({ format: "jwk" });
    const canonical = `{"crv":"P-256","kty":"EC","x":"${x}","y":"${y}"}`;
    const thumbprint = createHash("sha256").update(canonical).digest("base64url");
    expect(keyId(publicKey)).toBe(thumbprint);
    expect(keyId(privateKey)).toBe(thumbprint);
    expect(keyId(createPublicKey(privateKey))).toBe(thumbprint);
  });

  it("refuses at start a JWT_PUBLIC_KEY without a PEM block, and keys ES256 cannot use", () => {
    const start = (env: Record<string, string>) =>
      loadSigningKeys(loadConfig({ NODE_ENV: "production", ...env }));
    expect(() => start({ JWT_PUBLIC_KEY: "not a key" })).toThrow(
      /JWT_PUBLIC_KEY holds no PEM block/,
    );
    const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
    expect(() =>
      start({ JWT_PUBLIC_KEY: p384.publicKey.export({ type: "spki", format: "pem" }).toString() }),
    ).toThrow(/JWT_PUBLIC_KEY must be an EC P-256 key/);
    expect(() =>
      start({
        JWT_PRIVATE_KEY: p384.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      }),
    ).toThrow(/JWT_PRIVATE_KEY must be an EC P-256 key/);
  });
});
