import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { environmentWithMallocSettings, MALLOC_SETTINGS } from "../../../lib/runtime/malloc";

const root = path.resolve(__dirname, "../../..");

describe("environmentWithMallocSettings", () => {
  it("adds the malloc settings on Linux when nothing sets them", () => {
    expect(environmentWithMallocSettings({ PATH: "/usr/bin" }, "linux")).toEqual({
      PATH: "/usr/bin",
      MALLOC_ARENA_MAX: "2",
      MALLOC_MMAP_THRESHOLD_: "4194304",
    });
  });

  it("adds only what the operator did not set, as a variable or a tunable", () => {
    expect(environmentWithMallocSettings({ MALLOC_ARENA_MAX: "8" }, "linux")).toEqual({
      MALLOC_ARENA_MAX: "8",
      MALLOC_MMAP_THRESHOLD_: "4194304",
    });
    expect(
      environmentWithMallocSettings(
        { GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=65536" },
        "linux",
      ),
    ).toEqual({ GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=65536", MALLOC_ARENA_MAX: "2" });
    expect(environmentWithMallocSettings({ ...MALLOC_SETTINGS }, "linux")).toBeUndefined();
  });

  it("leaves other systems alone", () => {
    expect(environmentWithMallocSettings({}, "darwin")).toBeUndefined();
    expect(environmentWithMallocSettings({}, "win32")).toBeUndefined();
  });
});

describe("restartWithMallocSettings", () => {
  /**
   * What a fresh node that calls it first reports about itself (after any
   * restart), and how many times its program started (each start writes a
   * line to a file before the call).
   */
  function restarted(env: NodeJS.ProcessEnv) {
    const starts = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "malloc-")), "starts");
    const script = `
      require("node:fs").appendFileSync(${JSON.stringify(starts)}, "start\\n");
      require(${JSON.stringify(path.join(root, "lib/runtime/malloc.ts"))}).restartWithMallocSettings();
      process.stdout.write(JSON.stringify({
        pid: process.pid,
        arenas: process.env.MALLOC_ARENA_MAX ?? null,
        threshold: process.env.MALLOC_MMAP_THRESHOLD_ ?? null,
        args: process.argv.slice(1),
        flag: process.execArgv.includes("--max-semi-space-size=16"),
        kept: process.env.KEPT_SETTING ?? null,
      }) + "\\n");
    `;
    const childEnv: NodeJS.ProcessEnv = { ...process.env, KEPT_SETTING: "yes" };
    for (const name of Object.keys(MALLOC_SETTINGS)) delete childEnv[name];
    delete childEnv.GLIBC_TUNABLES;
    const child = spawnSync(
      process.execPath,
      ["--max-semi-space-size=16", "-r", "ts-node/register/transpile-only", "-e", script, "a1"],
      { cwd: root, encoding: "utf8", env: { ...childEnv, ...env } },
    );
    expect(child.status).toBe(0);
    const reports = child.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const startCount = fs.readFileSync(starts, "utf8").trim().split("\n").length;
    fs.rmSync(path.dirname(starts), { recursive: true, force: true });
    return { pid: child.pid, reports: reports as Record<string, unknown>[], startCount };
  }

  it("starts the node again in place with the settings, its flags, arguments and environment", () => {
    const { pid, reports, startCount } = restarted({});
    // Started twice, reported once: the first program was replaced, under the same pid.
    expect(startCount).toBe(2);
    expect(reports).toEqual([
      { pid, arenas: "2", threshold: "4194304", args: ["a1"], flag: true, kept: "yes" },
    ]);
  }, 30_000);

  it("does not restart a node that has every setting already", () => {
    const { pid, reports, startCount } = restarted({
      MALLOC_ARENA_MAX: "4",
      MALLOC_MMAP_THRESHOLD_: "65536",
    });
    expect(startCount).toBe(1);
    expect(reports).toEqual([
      { pid, arenas: "4", threshold: "65536", args: ["a1"], flag: true, kept: "yes" },
    ]);
  }, 30_000);
});
