import { generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadSigningKeys } from "../../lib/auth/keys";
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
    expect(verifyAccessToken(token, second.publicKey, settings)).toEqual({
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
    expect(verifyAccessToken(token, gateway.publicKey, settings)).toEqual({
      sub: "u2",
      role: "admin",
    });
    const users = loadSigningKeys(
      loadConfig({ NODE_ENV: "production", JWT_PRIVATE_KEY: privatePem }),
    );
    expect(users.source).toBe("environment");
  });
});
