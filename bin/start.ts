/**
 * Starts a node with moleculer-runner over the compiled services.
 * `npm start` runs every service in one process (all-in-one, embedded
 * adapters unless env vars name real servers); `SERVICES=users,api npm start`
 * runs just those (split mode, with TRANSPORTER and CHANNELS_URL set).
 * Extra arguments go to moleculer-runner (e.g. --repl).
 */
import path from "node:path";
import { limitHeapGrowth } from "../lib/runtime/heap";
import { restartWithStartSettings } from "../lib/runtime/restart";

restartWithStartSettings();
limitHeapGrowth();

// Loaded only now: a restart above would have thrown the work away.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Runner } = require("moleculer") as typeof import("moleculer");

const root = path.resolve(__dirname, "..");
process.env.SERVICEDIR ??= path.join(root, "services");

new Runner().start([
  process.argv[0],
  __filename,
  "--config",
  path.join(root, "moleculer.config.js"),
  ...process.argv.slice(2),
]);
