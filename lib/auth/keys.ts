import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Config } from "../config";

/**
 * Access tokens are signed with an EC P-256 key (ES256): the users service
 * holds the private key, gateways need only the public one. No key has a
 * default in code. Outside production a missing key is generated once into
 * DATA_DIR/keys and reused; production refuses to start without one.
 */
export interface SigningKeys {
  privateKey?: KeyObject;
  publicKey: KeyObject;
  /** Where the keys came from, for the start-up log. */
  source: "environment" | "generated" | "data-dir";
}

export function loadSigningKeys(
  config: Config,
  log: (msg: string) => void = () => undefined,
): SigningKeys {
  if (config.jwtPrivateKey || config.jwtPublicKey) {
    const privateKey = config.jwtPrivateKey
      ? createPrivateKey(pem(config.jwtPrivateKey))
      : undefined;
    const publicKey = config.jwtPublicKey
      ? createPublicKey(pem(config.jwtPublicKey))
      : createPublicKey(privateKey!);
    return { privateKey, publicKey, source: "environment" };
  }
  if (config.nodeEnv === "production") {
    throw new Error(
      "NODE_ENV=production needs JWT_PRIVATE_KEY (users) or JWT_PUBLIC_KEY (gateway); refusing to start",
    );
  }
  const dir = path.join(config.dataDir, "keys");
  const file = path.join(dir, "jwt-es256.pem");
  if (fs.existsSync(file)) {
    const privateKey = createPrivateKey(fs.readFileSync(file));
    return { privateKey, publicKey: createPublicKey(privateKey), source: "data-dir" };
  }
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // wx: if another process wrote it first, keep theirs.
  try {
    fs.writeFileSync(file, privateKey.export({ type: "pkcs8", format: "pem" }), {
      mode: 0o600,
      flag: "wx",
    });
    log(
      `No JWT key configured: generated a signing key at ${file} (set JWT_PRIVATE_KEY/JWT_PUBLIC_KEY in production)`,
    );
    return { privateKey, publicKey: createPublicKey(privateKey), source: "generated" };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const existing = createPrivateKey(fs.readFileSync(file));
    return { privateKey: existing, publicKey: createPublicKey(existing), source: "data-dir" };
  }
}

/** Env vars often carry PEMs with literal \n. */
function pem(value: string): string {
  return value.includes("\\n") ? value.replace(/\\n/g, "\n") : value;
}
