import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  KeyObject,
} from "node:crypto";
import path from "node:path";
import type { Config } from "../config";
import { readOrGenerateSecretFile } from "../secrets";

/**
 * Access tokens are signed with an EC P-256 key (ES256): the users service
 * holds the private key, gateways need only public ones. No key has a
 * default in code. Outside production a missing key is generated once into
 * DATA_DIR/keys and reused (lib/secrets.ts); production refuses to start
 * without one.
 *
 * A gateway may trust several public keys (JWT_PUBLIC_KEY holds one or more
 * PEM blocks), so a signing key can be replaced without refusing the tokens
 * the old one signed: each token names its key by `kid` (decision 29).
 */
export interface SigningKeys {
  privateKey?: KeyObject;
  /**
   * The keys a token may be signed with: the private key's own first (when
   * this node signs), then those of JWT_PUBLIC_KEY; no key twice.
   */
  publicKeys: KeyObject[];
  /** Where the keys came from, for the start-up log. */
  source: "environment" | "generated" | "data-dir";
}

export function loadSigningKeys(
  config: Config,
  log: (msg: string) => void = () => undefined,
): SigningKeys {
  if (config.jwtPrivateKey || config.jwtPublicKey) {
    const privateKey = config.jwtPrivateKey
      ? es256(createPrivateKey(pem(config.jwtPrivateKey)), "JWT_PRIVATE_KEY")
      : undefined;
    const configured = config.jwtPublicKey ? publicKeysIn(config.jwtPublicKey) : [];
    const publicKeys = privateKey ? [createPublicKey(privateKey), ...configured] : configured;
    return { privateKey, publicKeys: distinct(publicKeys), source: "environment" };
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
    publicKeys: [createPublicKey(privateKey)],
    source: generated ? "generated" : "data-dir",
  };
}

const keyIds = new WeakMap<KeyObject, string>();

/**
 * The `kid` of tokens signed with this key (private or public): its JWK
 * thumbprint (RFC 7638), so every node derives the same id from the key
 * alone and no id has to be configured beside it.
 */
export function keyId(key: KeyObject): string {
  let id = keyIds.get(key);
  if (id === undefined) {
    const { crv, kty, x, y } = (key.type === "private" ? createPublicKey(key) : key).export({
      format: "jwk",
    });
    // The required members in lexicographic order, without whitespace.
    id = createHash("sha256").update(JSON.stringify({ crv, kty, x, y })).digest("base64url");
    keyIds.set(key, id);
  }
  return id;
}

/** Every PEM block of JWT_PUBLIC_KEY, as public keys. */
function publicKeysIn(value: string): KeyObject[] {
  const blocks = pem(value).match(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g);
  if (!blocks) throw new Error("JWT_PUBLIC_KEY holds no PEM block");
  return blocks.map((block) => es256(createPublicKey(block), "JWT_PUBLIC_KEY"));
}

/** Refuses at start a key ES256 cannot use, instead of at the first login or request. */
function es256(key: KeyObject, name: string): KeyObject {
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1")
    throw new Error(`${name} must be an EC P-256 key (ES256); refusing to start`);
  return key;
}

/** One key per id, in the order first given. */
function distinct(keys: KeyObject[]): KeyObject[] {
  return [...new Map(keys.map((key) => [keyId(key), key])).values()];
}

/** Env vars often carry PEMs with literal \n. */
function pem(value: string): string {
  return value.includes("\\n") ? value.replace(/\\n/g, "\n") : value;
}
