import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import path from "node:path";
import type { Config } from "../config";
import { readOrGenerateSecretFile } from "../secrets";

/**
 * Secrets one service must hand another through a message (the password
 * reset link: whoever reads it can set the password) are sealed by the
 * sender and opened only where they are used, so the outbox row, the
 * channel's stream, a dead letter and the job queue hold ciphertext.
 *
 * AES-256-GCM under MESSAGE_SEALING_KEY, with a context (e.g. the template,
 * user and address it is for) as associated data: a sealed value opens only
 * for the context it was sealed for, so it cannot be moved into a message to
 * someone else. The sealed form names the key by a short fingerprint, so a
 * node with another key says so instead of failing obscurely.
 *
 *   sealed:v1:<key fingerprint>:<base64url of iv ‖ ciphertext ‖ tag>
 */
const FORMAT = "sealed:v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A sealed value that cannot be opened here: another key, altered, or another context. */
export class SealedValueError extends Error {
  override name = "SealedValueError";
}

export class MessageSealer {
  private readonly fingerprint: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error("A message sealing key is 32 bytes");
    this.fingerprint = createHash("sha256")
      .update("message-sealing-key:")
      .update(key)
      .digest("hex")
      .slice(0, 8);
  }

  seal(value: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from(context, "utf8"));
    const body = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
    const data = Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
    return `${FORMAT}:${this.fingerprint}:${data}`;
  }

  open(sealed: string, context: string): string {
    const match = /^sealed:v1:([0-9a-f]{8}):([A-Za-z0-9_-]+)$/.exec(sealed);
    if (!match) throw new SealedValueError("not a sealed value");
    const [, fingerprint, data] = match;
    if (fingerprint !== this.fingerprint)
      throw new SealedValueError(
        `sealed under another key (${fingerprint}, this node has ${this.fingerprint}): MESSAGE_SEALING_KEY differs between nodes`,
      );
    const bytes = Buffer.from(data, "base64url");
    if (bytes.length < IV_BYTES + TAG_BYTES) throw new SealedValueError("sealed value cut short");
    const decipher = createDecipheriv("aes-256-gcm", this.key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context, "utf8"));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    try {
      const body = bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString("utf8");
    } catch {
      throw new SealedValueError("sealed value altered, or sealed for another recipient");
    }
  }
}

/**
 * The sealer of this node: MESSAGE_SEALING_KEY, or outside production a key
 * generated once into DATA_DIR/keys (lib/secrets.ts). Every node that seals
 * or opens (users, notifications) must have the same key.
 */
export function loadMessageSealer(
  config: Pick<Config, "messageSealingKey" | "nodeEnv" | "dataDir">,
  log: (message: string) => void = () => undefined,
): MessageSealer {
  if (config.messageSealingKey)
    return new MessageSealer(Buffer.from(config.messageSealingKey, "hex"));
  if (config.nodeEnv === "production")
    throw new Error("NODE_ENV=production needs MESSAGE_SEALING_KEY; refusing to start");
  const file = path.join(config.dataDir, "keys", "message-sealing.key");
  const { content, generated } = readOrGenerateSecretFile(file, () =>
    randomBytes(32).toString("hex"),
  );
  if (generated)
    log(
      `No MESSAGE_SEALING_KEY configured: generated one at ${file} (set MESSAGE_SEALING_KEY in production)`,
    );
  if (!/^[0-9a-f]{64}$/.test(content.trim()))
    throw new Error(`${file} does not hold a 64-character hex message sealing key`);
  return new MessageSealer(Buffer.from(content.trim(), "hex"));
}
