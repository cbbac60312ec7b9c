import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MALLOC_SETTINGS } from "../../../lib/runtime/malloc";
import { ASYNC_CONTEXT_FRAME, missingNodeFlags } from "../../../lib/runtime/node-flags";

const root = path.resolve(__dirname, "../../..");

describe("missingNodeFlags", () => {
  const known = new Set([ASYNC_CONTEXT_FRAME]);

  it("asks Node 22 for the async context frame unless it was given", () => {
    expect(missingNodeFlags([], "", known, 22)).toEqual([ASYNC_CONTEXT_FRAME]);
    expect(missingNodeFlags(["--inspect", ASYNC_CONTEXT_FRAME], "", known, 22)).toEqual([]);
    expect(
      missingNodeFlags([], `--max-old-space-size=200 ${ASYNC_CONTEXT_FRAME}`, known, 22),
    ).toEqual([]);
  });

  it("leaves the frame off when the operator turns it off", () => {
    const off = "--no-experimental-async-context-frame";
    expect(missingNodeFlags([off], "", known, 22)).toEqual([]);
    expect(missingNodeFlags([], off, known, 22)).toEqual([]);
  });

  it("asks nothing of a Node that has the frame by default or does not know the flag", () => {
    expect(missingNodeFlags([], "", known, 24)).toEqual([]);
    expect(missingNodeFlags([], "", new Set(), 22)).toEqual([]);
  });
});

describe("restartWithStartSettings", () => {
  /**
   * What a fresh node that calls it first reports about itself (after any
   * restart), and how many times its program started (each start writes a
   * line to a file before the call).
   */
  function restarted(env: NodeJS.ProcessEnv, nodeFlags: string[] = []) {
    const starts = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "restart-")), "starts");
    const script = `
      require("node:fs").appendFileSync(${JSON.stringify(starts)}, "start\\n");
      require(${JSON.stringify(path.join(root, "lib/runtime/restart.ts"))}).restartWithStartSettings();
      process.stdout.write(JSON.stringify({
        pid: process.pid,
        arenas: process.env.MALLOC_ARENA_MAX ?? null,
        threshold: process.env.MALLOC_MMAP_THRESHOLD_ ?? null,
        args: process.argv.slice(1),
        flag: process.execArgv.includes("--max-semi-space-size=16"),
        frame: process.execArgv.includes(${JSON.stringify(ASYNC_CONTEXT_FRAME)}),
        kept: process.env.KEPT_SETTING ?? null,
      }) + "\\n");
    `;
    const childEnv: NodeJS.ProcessEnv = { ...process.env, KEPT_SETTING: "yes" };
    for (const name of Object.keys(MALLOC_SETTINGS)) delete childEnv[name];
    delete childEnv.GLIBC_TUNABLES;
    delete childEnv.NODE_OPTIONS;
    const child = spawnSync(
      process.execPath,
      [
        "--max-semi-space-size=16",
        ...nodeFlags,
        "-r",
        "ts-node/register/transpile-only",
        "-e",
        script,
        "a1",
      ],
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

  // Whether this Node build is one that needs the flag (Node 22; later ones have the frame).
  const needsFrameFlag = missingNodeFlags([], "").length > 0;
  const ownMalloc = { MALLOC_ARENA_MAX: "4", MALLOC_MMAP_THRESHOLD_: "65536" };

  /** The one report of a node that ended up with these malloc settings and every flag. */
  const reportOf = (pid: number | undefined, arenas: string, threshold: string) => [
    { pid, arenas, threshold, args: ["a1"], flag: true, frame: needsFrameFlag, kept: "yes" },
  ];

  it("starts the node again in place with the settings, its flags, arguments and environment", () => {
    const { pid, reports, startCount } = restarted({});
    // Started twice, reported once: the first program was replaced, under the same pid.
    expect(startCount).toBe(2);
    expect(reports).toEqual(reportOf(pid, "2", "4194304"));
  }, 30_000);

  it("starts a node with its malloc settings again for a missing Node flag", () => {
    const { pid, reports, startCount } = restarted(ownMalloc);
    expect(startCount).toBe(needsFrameFlag ? 2 : 1);
    expect(reports).toEqual(reportOf(pid, "4", "65536"));
  }, 30_000);

  it("does not restart a node that has every setting already", () => {
    const frame = needsFrameFlag ? [ASYNC_CONTEXT_FRAME] : [];
    const { pid, reports, startCount } = restarted(ownMalloc, frame);
    expect(startCount).toBe(1);
    expect(reports).toEqual(reportOf(pid, "4", "65536"));
  }, 30_000);
});
