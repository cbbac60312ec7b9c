import type { BrokerOptions } from "moleculer";
import { buildBrokerOptions } from "./lib/broker";
import { loadConfig } from "./lib/config";

/**
 * Broker configuration for moleculer-runner (npm start, npm run dev, the
 * split-mode nodes). Everything comes from environment variables: see the
 * configuration table in README.md. `SERVICES` picks the services a node runs.
 */
const config: BrokerOptions = buildBrokerOptions(loadConfig(process.env));

export = config;
