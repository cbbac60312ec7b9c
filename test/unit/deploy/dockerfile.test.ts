import fs from "node:fs";
import path from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { MALLOC_SETTINGS } from "../../../lib/runtime/malloc";
import { ASYNC_CONTEXT_FRAME } from "../../../lib/runtime/node-flags";
import { ROOT } from "./node-groups";

/**
 * The image (Dockerfile, .dockerignore): its last stage runs Node 22 as a
 * non-root user with production dependencies only, the build context holds
 * what the build needs and never local secrets or data, and the commands
 * the Compose file and the manifests run exist in the build output.
 */

const dockerfile = fs.readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
/** Instructions, continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith("#"));
const stages = instructions.reduce<string[][]>((acc, line) => {
  if (/^FROM\s/i.test(line)) acc.push([]);
  acc[acc.length - 1]?.push(line);
  return acc;
}, []);
const runtime = stages[stages.length - 1];
const stageNamed = (name: string) =>
  stages.find((s) => new RegExp(`^FROM\\s+\\S+\\s+AS\\s+${name}$`, "i").test(s[0]));

const ignorePatterns = fs
  .readFileSync(path.join(ROOT, ".dockerignore"), "utf8")
  .split("\n")
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith("#"));
/** Whether .dockerignore keeps a path out of the build context (its plain names and `*` globs). */
function ignored(file: string): boolean {
  return ignorePatterns.some((pattern) => {
    const regex = new RegExp(`^${pattern.replace(/[.]/g, "\\.").replace(/\*/g, "[^/]*")}(/|$)`);
    return regex.test(file);
  });
}

describe("Dockerfile", () => {
  it("runs its last stage on Node 22 as the unprivileged node user, in production mode", () => {
    expect(runtime[0]).toMatch(/^FROM node:22-bookworm-slim\b/);
    const users = runtime.filter((l) => /^USER\s/.test(l));
    expect(users.at(-1)).toBe("USER node");
    expect(runtime).toContain("ENV NODE_ENV=production");
    // The node's own malloc settings, so it never needs to start itself again there.
    const env = runtime.filter((l) => /^ENV\s/.test(l)).join(" ");
    for (const [name, value] of Object.entries(MALLOC_SETTINGS))
      expect(env).toContain(`${name}=${value}`);
    // And the Node flags a Node 22 node would otherwise start itself again for.
    expect(runtime.at(-1)).toBe(`CMD ["node", "${ASYNC_CONTEXT_FRAME}", "dist/bin/start.js"]`);
  });

  it("ships only production dependencies, taken from a pruned stage", () => {
    const copyModules = runtime.find((l) => /^COPY\s.*node_modules/.test(l));
    const from = /--from=(\S+)/.exec(copyModules ?? "")?.[1];
    expect(from).toBeDefined();
    expect(stageNamed(from!)?.join("\n")).toMatch(/npm (prune|ci)\b.*--omit=dev/);
  });

  it("keeps local secrets, dependencies, data and build output out of the build context", () => {
    for (const file of [".env", ".env.local", "node_modules", "dist", "data", ".git"])
      expect({ file, ignored: ignored(file) }).toEqual({ file, ignored: true });
  });

  it("sends the build everything it compiles and copies", () => {
    const build = JSON.parse(fs.readFileSync(path.join(ROOT, "tsconfig.build.json"), "utf8"));
    const needed = [
      "package.json",
      "package-lock.json",
      "tsconfig.json",
      "tsconfig.build.json",
      "scripts/copy-templates.mjs",
      "services/notifications/templates",
      ...build.include,
    ];
    expect(needed.filter(ignored)).toEqual([]);
  });

  it("builds the programs the Compose file and the manifests run", () => {
    const compose = parse(fs.readFileSync(path.join(ROOT, "docker-compose.yml"), "utf8"), {
      merge: true,
    });
    const k8sFiles = fs
      .readdirSync(path.join(ROOT, "k8s/base"))
      .map((f) => path.join(ROOT, "k8s/base", f));
    const k8sCommands = k8sFiles.flatMap((file) =>
      parseAllDocuments(fs.readFileSync(file, "utf8"))
        .map((d) => d.toJS())
        .flatMap((doc) => doc?.spec?.template?.spec?.containers ?? [])
        .map((c: { command?: string[] }) => c.command),
    );
    const composeCommands = Object.values(
      compose.services as Record<string, { command?: string[] }>,
    ).map((s) => s.command);
    const programs = [...k8sCommands, ...composeCommands, ["node", "dist/bin/start.js"]]
      .filter((c): c is string[] => Array.isArray(c) && c[0] === "node")
      .map((c) => c[1]);
    expect(programs).toContain("dist/bin/sandbox-provider.js");
    for (const program of programs) {
      const source = program.replace(/^dist\//, "").replace(/\.js$/, ".ts");
      expect({ program, source: fs.existsSync(path.join(ROOT, source)) }).toEqual({
        program,
        source: true,
      });
    }
  });
});
