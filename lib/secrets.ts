import fs from "node:fs";
import path from "node:path";

/**
 * Secrets (JWT key, message sealing key, payment provider key and webhook
 * secret) have no default in code. Each comes from its environment variable;
 * production refuses to start without it. Outside production a missing one
 * is generated once into DATA_DIR/keys and reused, so every node and tool
 * started with the same DATA_DIR agrees on it.
 */

/**
 * The content of a generated secret's file: read if it exists, else made by
 * `generate` and written. Processes starting together agree on one content:
 * the file appears complete or not at all (written aside, then linked into
 * place, which fails if another process linked its own first).
 */
export function readOrGenerateSecretFile(
  file: string,
  generate: () => string,
): { content: string; generated: boolean } {
  if (fs.existsSync(file)) return { content: fs.readFileSync(file, "utf8"), generated: false };
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const content = generate();
  const aside = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(aside, content, { mode: 0o600 });
  try {
    fs.linkSync(aside, file);
    return { content, generated: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return { content: fs.readFileSync(file, "utf8"), generated: false };
  } finally {
    fs.rmSync(aside, { force: true });
  }
}
