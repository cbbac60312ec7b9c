import os from "node:os";
import { BrokerOptions, ServiceBroker } from "moleculer";
import { buildBrokerOptions } from "../broker";
import type { Config } from "../config";
import { OpsConsoleService } from "./console.service";
import { replCommands } from "./repl-commands";

/**
 * The operator node of `npm run repl`: a broker built like every node's
 * (same namespace, serializer and TRANSPORTER), joining the running cluster
 * with no domain service of its own — only the console service that hears
 * progress events — and the operator commands in its REPL.
 */
export function replNodeId(): string {
  return `repl-${os.hostname()}-${process.pid}`;
}

export function createReplBroker(
  config: Config,
  extra: Partial<BrokerOptions> = {},
): ServiceBroker {
  if (!config.transporter)
    throw new Error(
      "TRANSPORTER is not set: the REPL joins a running cluster through its transporter; set the one the nodes use (e.g. TRANSPORTER=nats://127.0.0.1:4222)",
    );
  const broker = new ServiceBroker(
    buildBrokerOptions(config, {
      nodeID: config.nodeId ?? replNodeId(),
      replOptions: { delimiter: "commerce $", customCommands: replCommands() },
      ...extra,
    } as Partial<BrokerOptions>),
  );
  broker.createService(OpsConsoleService);
  return broker;
}
