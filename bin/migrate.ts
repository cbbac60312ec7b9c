/**
 * Applies pending migrations without starting the services:
 *   npm run migrate                       # every service
 *   SERVICES=users npm run migrate        # just these
 * Uses the same configuration (MYSQL_URL, <SERVICE>_MYSQL_URL, DATA_DIR) as the nodes.
 * Services also migrate themselves at start; this is for deploy pipelines.
 */
import { loadConfig } from "../lib/config";
import { Infrastructure } from "../lib/infra";
import { serviceMigrations } from "../services/migrations";

async function main(): Promise<void> {
  const infra = new Infrastructure(loadConfig(process.env));
  const wanted = process.env.SERVICES?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const services = wanted ?? Object.keys(serviceMigrations);
  try {
    for (const service of services) {
      const migrations = serviceMigrations[service];
      if (!migrations)
        throw new Error(
          `Unknown service "${service}" (known: ${Object.keys(serviceMigrations).join(", ")})`,
        );
      const db = await infra.database(service);
      const applied = await db.migrate(migrations);
      process.stdout.write(
        `${service} (${db.adapter}): ${applied.length ? `applied ${applied.join(", ")}` : "up to date"}\n`,
      );
    }
  } finally {
    await infra.close();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`Migration failed: ${err.message}\n`);
  process.exit(1);
});
