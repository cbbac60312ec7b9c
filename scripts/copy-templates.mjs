/**
 * Copies the notification templates next to the compiled service, where it
 * looks for them (services/notifications/templates.ts): `tsc` emits only
 * JavaScript. Runs after every `npm run build` (the `postbuild` script).
 */
import { cpSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const templates = join("services", "notifications", "templates");
const target = join(root, "dist", templates);

// Replaced whole, so a template deleted from the sources is gone from dist/ too.
rmSync(target, { recursive: true, force: true });
cpSync(join(root, templates), target, { recursive: true });
