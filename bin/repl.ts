/**
 * `npm run repl`: an operator console that joins a running cluster. It is a
 * node of its own (id `repl-<host>-<pid>`) with no domain service, built from
 * the same environment as the nodes (TRANSPORTER is required; NAMESPACE, as
 * moleculer-runner reads it, when the nodes run under one), and opens
 * Moleculer's REPL with the operator commands of lib/ops/repl-commands.ts:
 *
 *   order <id> · outbox · dlq list|show|replay · queues [retry <queue> [job]]
 *   search status|rebuild · caches clear   (and Moleculer's own: nodes, call, …)
 *
 * Runs from the TypeScript sources (ts-node), so it needs no build.
 */
import { loadConfig } from "../lib/config";
import { createReplBroker } from "../lib/ops/repl-node";

async function main(): Promise<void> {
  // The console stays readable: the node's own logs only from warnings up, unless asked.
  const config = loadConfig(process.env, process.env.LOG_LEVEL ? {} : { logLevel: "warn" });
  const namespace = process.env.NAMESPACE;
  const broker = createReplBroker(config, namespace ? { namespace } : {});
  await broker.start();
  await broker.repl();
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
