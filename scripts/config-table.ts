/**
 * Prints the configuration table for README.md from lib/config.ts, so the
 * documentation cannot drift from the keys the code reads:
 *   npx ts-node scripts/config-table.ts
 */
import { CONFIG_KEYS } from "../lib/config";

export function configTable(): string {
  const rows = Object.values(CONFIG_KEYS).map((k) => {
    const def =
      k.default === undefined
        ? "unset"
        : Array.isArray(k.default)
          ? k.default.length
            ? k.default.join(",")
            : "unset"
          : String(k.default);
    return `| \`${k.env}\` | ${def === "unset" ? "_unset_" : `\`${def}\``} | ${k.doc.replace(/\|/g, "\\|")} |`;
  });
  return ["| variable | default | meaning |", "|---|---|---|", ...rows].join("\n");
}

// eslint-disable-next-line no-console -- this script prints to stdout by design
if (require.main === module) console.log(configTable());
