import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/**
 * `npm run audit:prod`: `npm audit --omit=dev` must find no high or critical
 * advisory in what production installs, unless docs/security.md explains it
 * (naming the advisory's URL or id). Exits 1 on an unexplained advisory, and
 * also when the registry gives no audit answer (the check was not made).
 * It is a script, not a test: its answer depends on the registry and on the
 * day's advisories, not on this code.
 */
const root = path.resolve(__dirname, "..");

interface Advisory {
  source: number;
  name: string;
  title: string;
  url: string;
  severity: string;
}

interface AuditReport {
  vulnerabilities?: Record<string, { via: (Advisory | string)[] }>;
  message?: string;
  error?: unknown;
}

function npmAudit(): Promise<{ report?: AuditReport; problem?: string }> {
  return new Promise((resolve) => {
    execFile(
      "npm",
      ["audit", "--omit=dev", "--json"],
      { cwd: root, timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
      // npm exits 1 when it finds anything: the JSON on stdout is the answer either way.
      (_err, stdout, stderr) => {
        try {
          const report = JSON.parse(stdout) as AuditReport;
          if (report.vulnerabilities) resolve({ report });
          else resolve({ problem: report.message ?? (stderr || "no audit report") });
        } catch {
          resolve({ problem: stderr || "npm audit printed no JSON" });
        }
      },
    );
  });
}

async function main(): Promise<number> {
  const { report, problem } = await npmAudit();
  if (!report) {
    console.error(`npm audit --omit=dev got no answer from the registry: ${problem}`);
    return 1;
  }
  const explained = fs.readFileSync(path.join(root, "docs/security.md"), "utf8");
  const serious = Object.values(report.vulnerabilities!)
    .flatMap((v) => v.via)
    .filter((via): via is Advisory => typeof via === "object")
    .filter((a) => a.severity === "high" || a.severity === "critical");
  const unexplained = serious.filter(
    (a) => !explained.includes(a.url) && !explained.includes(String(a.source)),
  );
  for (const a of unexplained) console.error(`${a.severity} ${a.name}: ${a.title} (${a.url})`);
  console.warn(
    `${serious.length} high/critical advisories, ${unexplained.length} not explained in docs/security.md`,
  );
  return unexplained.length ? 1 : 0;
}

main().then((code) => process.exit(code));
