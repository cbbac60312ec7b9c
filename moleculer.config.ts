import type { BrokerOptions } from "moleculer";
import { buildBrokerOptions } from "./lib/broker";
import { loadConfig } from "./lib/config";
import { replCommands } from "./lib/ops/repl-commands";

/**
 * Broker configuration for moleculer-runner (npm start, npm run dev, the
 * split-mode nodes). Everything comes from environment variables: see the
 * configuration table in README.md. `SERVICES` picks the services a node runs.
 */
const config: BrokerOptions = buildBrokerOptions(loadConfig(process.env), {
  // `npm run dev` (--repl) gets the operator commands of `npm run repl`.
  replOptions: { delimiter: "commerce $", customCommands: replCommands() },
} as unknown as Partial<BrokerOptions>);

/*
 * moleculer-runner, after loading this file, overwrites every broker option
 * whose upper-cased name is an env var: TRANSPORTER would replace the
 * transporter built above (with its TLS and Kafka SASL settings) by the bare
 * URL. So that option ignores assignments. (NAMESPACE still works that way.)
 */
const transporter = config.transporter;
Object.defineProperty(config, "transporter", {
  enumerable: true,
  get: () => transporter,
  set: () => undefined,
});

export = config;
