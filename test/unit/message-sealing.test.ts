import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../lib/config";
import { loadMessageSealer, MessageSealer, SealedValueError } from "../../lib/messaging/sealing";
import { readOrGenerateSecretFile } from "../../lib/secrets";

const link = "https://shop.example/reset-password?token=Zm9vYmFyYmF6cXV4cXV1eA";
const forAnn = "notification-secret\npassword-reset\nu-ann\nann@example.com";

function openError(run: () => unknown): SealedValueError {
  try {
    run();
  } catch (err) {
    if (err instanceof SealedValueError) return err;
    throw err;
  }
  throw new Error("expected the value not to open");
}

describe("sealed message values", () => {
  const sealer = new MessageSealer(randomBytes(32));

  it("opens what it sealed, and the sealed form shows nothing of it", () => {
    const sealed = sealer.seal(link, forAnn);
    expect(sealed).toMatch(/^sealed:v1:[0-9a-f]{8}:[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain("Zm9vYmFy");
    expect(sealer.open(sealed, forAnn)).toBe(link);
    // A fresh IV each time: two seals of one link do not match.
    expect(sealer.seal(link, forAnn)).not.toBe(sealed);
  });

  it("does not open for another recipient, so a sealed link cannot be sent to someone else", () => {
    const sealed = sealer.seal(link, forAnn);
    const toMallory = forAnn.replace("ann@example.com", "mallory@example.com");
    expect(openError(() => sealer.open(sealed, toMallory)).message).toMatch(/another recipient/);
  });

  it("refuses an altered value", () => {
    const sealed = sealer.seal(link, forAnn);
    const data = Buffer.from(sealed.split(":")[3], "base64url");
    data[14] ^= 1;
    const altered = `${sealed.split(":").slice(0, 3).join(":")}:${data.toString("base64url")}`;
    expect(openError(() => sealer.open(altered, forAnn)).message).toMatch(/altered/);
    expect(openError(() => sealer.open(link, forAnn)).message).toMatch(/not a sealed value/);
    expect(openError(() => sealer.open("sealed:v1:00000000:", forAnn))).toBeDefined();
  });

  it("names a key mismatch between nodes", () => {
    const other = new MessageSealer(randomBytes(32));
    const err = openError(() => other.open(sealer.seal(link, forAnn), forAnn));
    expect(err.message).toMatch(/another key .*MESSAGE_SEALING_KEY differs/);
  });
});

describe("the message sealing key", () => {
  let dataDir: string;
  beforeEach(() => (dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sealing-"))));
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("is generated into DATA_DIR once, readable by its owner only, and shared by later loads", () => {
    const logged: string[] = [];
    const users = loadMessageSealer(loadConfig({ DATA_DIR: dataDir }), (m) => logged.push(m));
    expect(logged.join()).toMatch(/generated one at .*message-sealing\.key/);
    const file = path.join(dataDir, "keys", "message-sealing.key");
    expect(fs.statSync(file).mode & 0o077).toBe(0);
    const notifications = loadMessageSealer(loadConfig({ DATA_DIR: dataDir }), (m) =>
      logged.push(m),
    );
    expect(logged).toHaveLength(1);
    expect(notifications.open(users.seal(link, forAnn), forAnn)).toBe(link);
  });

  it("comes from MESSAGE_SEALING_KEY when set, and production refuses to start without it", () => {
    const key = randomBytes(32).toString("hex");
    const env = { DATA_DIR: dataDir, MESSAGE_SEALING_KEY: key.toUpperCase() };
    const a = loadMessageSealer(loadConfig(env));
    const b = loadMessageSealer(loadConfig({ ...env, NODE_ENV: "production" }));
    expect(b.open(a.seal(link, forAnn), forAnn)).toBe(link);
    expect(fs.existsSync(path.join(dataDir, "keys"))).toBe(false);

    expect(() =>
      loadMessageSealer(loadConfig({ DATA_DIR: dataDir, NODE_ENV: "production" })),
    ).toThrow(/production needs MESSAGE_SEALING_KEY/);
    expect(fs.existsSync(path.join(dataDir, "keys"))).toBe(false);
  });

  it("must be 64 hex digits", () => {
    for (const bad of ["abc", randomBytes(32).toString("base64"), "g".repeat(64)])
      expect(() => loadConfig({ MESSAGE_SEALING_KEY: bad })).toThrow(
        /MESSAGE_SEALING_KEY must be 64 hexadecimal digits/,
      );
  });
});

describe("a generated secret's file", () => {
  let dataDir: string;
  beforeEach(() => (dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "secret-file-"))));
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("keeps what another process wrote first, complete, and leaves nothing aside", () => {
    const file = path.join(dataDir, "keys", "some.key");
    const result = readOrGenerateSecretFile(file, () => {
      // Another process finishes first, while this one generates.
      fs.writeFileSync(file, "theirs");
      return "ours";
    });
    expect(result).toEqual({ content: "theirs", generated: false });
    expect(fs.readFileSync(file, "utf8")).toBe("theirs");
    expect(fs.readdirSync(path.dirname(file))).toEqual(["some.key"]);
  });

  it("writes a new one whole, then reads it back", () => {
    const file = path.join(dataDir, "keys", "some.key");
    expect(readOrGenerateSecretFile(file, () => "ours")).toEqual({
      content: "ours",
      generated: true,
    });
    expect(readOrGenerateSecretFile(file, () => "other")).toEqual({
      content: "ours",
      generated: false,
    });
    expect(fs.statSync(path.dirname(file)).mode & 0o077).toBe(0);
  });
});
