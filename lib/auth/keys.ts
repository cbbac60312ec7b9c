import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject } from "node:crypto";
import path from "node:path";
import type { Config } from "../config";
import { readOrGenerateSecretFile } from "../secrets";

/**
 * Access tokens are signed with an EC P-256 key (ES256): the users service
 * holds the private key, gateways need only the public one. No key has a
 * default in code. Outside production a missing key is generated once into
 * DATA_DIR/keys and reused (lib/secrets.ts); production refuses to start
 * without one.
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
  const file = path.join(config.dataDir, "keys", "jwt-es256.pem");
  const { content, generated } = readOrGenerateSecretFile(file, () =>
    generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString(),
  );
  if (generated)
    log(
      `No JWT key configured: generated a signing key at ${file} (set JWT_PRIVATE_KEY/JWT_PUBLIC_KEY in production)`,
    );
  const privateKey = createPrivateKey(content);
  return {
    privateKey,
    publicKey: createPublicKey(privateKey),
    source: generated ? "generated" : "data-dir",
  };
}

/** Env vars often carry PEMs with literal \n. */
function pem(value: string): string {
  return value.includes("\\n") ? value.replace(/\\n/g, "\n") : value;
}
