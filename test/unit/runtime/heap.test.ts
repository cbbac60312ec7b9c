import { execFileSync } from "node:child_process";
import path from "node:path";

/**
 * The node's heap stays near its live size under churn: a process that
 * keeps ~30 MB of live objects and keeps promoting short-lived batches
 * reaches about half the heap with limitHeapGrowth that it reaches on V8's
 * own growth. Each side runs in a fresh node, as `npm start` does.
 */
const root = path.resolve(__dirname, "../../..");

const churn = `
  const live = Array.from({ length: 400000 }, (_, i) => ({ i, s: "live" + i }));
  const window = [];
  let peak = 0;
  for (let round = 0; round < 2000; round++) {
    window.push(Array.from({ length: 5000 }, (_, i) => ({ round, i, s: "x" + i })));
    if (window.length > 40) window.shift();
    if (round % 20 === 0) peak = Math.max(peak, process.memoryUsage().heapTotal);
  }
  process.stdout.write(JSON.stringify({ peakMb: peak / 1048576, live: live.length }));
`;

function peakHeapMb(limit: boolean, nodeArgs: string[] = []): { peakMb: number; limited: boolean } {
  const script = `
    const { limitHeapGrowth } = require(${JSON.stringify(path.join(root, "lib/runtime/heap.ts"))});
    const limited = ${limit} ? limitHeapGrowth() : false;
    ${churn.replace("process.stdout.write(JSON.stringify({", "process.stdout.write(JSON.stringify({ limited,")}
  `;
  const out = execFileSync(
    process.execPath,
    [...nodeArgs, "-r", "ts-node/register/transpile-only", "-e", script],
    { cwd: root, encoding: "utf8" },
  );
  return JSON.parse(out) as { peakMb: number; limited: boolean };
}

describe("limitHeapGrowth", () => {
  it("keeps the heap near its live size where V8 alone lets it grow far past", () => {
    const own = peakHeapMb(false);
    const limited = peakHeapMb(true);
    expect(limited.limited).toBe(true);
    expect(limited.peakMb).toBeLessThan(own.peakMb * 0.75);
  }, 60_000);

  it("leaves a --heap-growing-percent given to node alone", () => {
    expect(peakHeapMb(true, ["--heap-growing-percent=300"]).limited).toBe(false);
  }, 60_000);
});
