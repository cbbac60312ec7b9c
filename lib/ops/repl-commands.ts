import type { ServiceBroker } from "moleculer";
import { clearCaches } from "./caches.command";
import { errorText } from "./cluster-calls";
import { listDeadLetters, replayDeadLetter, showDeadLetter } from "./dlq.command";
import { showOrder } from "./order.command";
import { outboxStatus } from "./outbox.command";
import { Report, renderReport } from "./output";
import { queuesStatus, retryFailedJobs } from "./queues.command";
import { rebuildSearch, searchStatus } from "./search.command";

/**
 * The operator commands of `npm run repl`, registered with moleculer-repl
 * (its `customCommands`). Thin glue: each reads its arguments and prints the
 * report of a command function beside this file, which is where the work
 * (and the tests) are. Moleculer's own commands (`nodes`, `services`,
 * `call`, …) stay available; `cache` is one of them, hence `caches clear`.
 */

/** What moleculer-repl hands an action: positional arguments by name, flags under `options`. */
interface ReplParams {
  options?: Record<string, unknown>;
  [argument: string]: unknown;
}

interface ReplCommand {
  command: string;
  description: string;
  options?: { option: string; description: string }[];
  action(broker: ServiceBroker, params: ReplParams): Promise<void>;
}

type Print = (text: string) => void;

class UsageError extends Error {}

function word(params: ReplParams, name: string): string | undefined {
  const value = params[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function required(params: ReplParams, name: string, usage: string): string {
  const value = word(params, name);
  if (!value) throw new UsageError(`usage: ${usage}`);
  return value;
}

function pageSizeOption(params: ReplParams): number | undefined {
  const raw = params.options?.pageSize;
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError("--page-size must be a positive integer");
  return n;
}

function dlq(broker: ServiceBroker, params: ReplParams): Promise<Report> {
  const usage = "dlq list [topic] | dlq show <id> | dlq replay <id>";
  switch (required(params, "what", usage)) {
    case "list":
      return listDeadLetters(broker, word(params, "arg"));
    case "show":
      return showDeadLetter(broker, required(params, "arg", "dlq show <id>"));
    case "replay":
      return replayDeadLetter(broker, required(params, "arg", "dlq replay <id>"));
    default:
      throw new UsageError(`usage: ${usage}`);
  }
}

function queues(broker: ServiceBroker, params: ReplParams): Promise<Report> {
  const what = word(params, "what");
  if (!what) return queuesStatus(broker);
  if (what !== "retry") throw new UsageError("usage: queues | queues retry <queue> [job]");
  return retryFailedJobs(
    broker,
    required(params, "queue", "queues retry <queue> [job]"),
    word(params, "job"),
  );
}

function search(broker: ServiceBroker, params: ReplParams, print: Print): Promise<Report> {
  const usage = "search status | search rebuild [--clear] [--page-size <n>]";
  switch (required(params, "what", usage)) {
    case "status":
      return searchStatus(broker);
    case "rebuild": {
      print("Rebuilding the search index…");
      const options = { clear: params.options?.clear === true, pageSize: pageSizeOption(params) };
      return rebuildSearch(broker, options, print);
    }
    default:
      throw new UsageError(`usage: ${usage}`);
  }
}

function caches(broker: ServiceBroker, params: ReplParams): Promise<Report> {
  if (required(params, "what", "caches clear") !== "clear")
    throw new UsageError("usage: caches clear");
  return clearCaches(broker);
}

export function replCommands(
  print: Print = (text) => process.stdout.write(`${text}\n`),
): ReplCommand[] {
  const command = (
    spec: string,
    description: string,
    run: (broker: ServiceBroker, params: ReplParams, print: Print) => Promise<Report>,
    options?: ReplCommand["options"],
  ): ReplCommand => ({
    command: spec,
    description,
    ...(options ? { options } : {}),
    async action(broker, params) {
      try {
        print(renderReport(await run(broker, params, print)));
      } catch (err) {
        print(err instanceof UsageError ? err.message : `Error: ${errorText(err)}`);
      }
    },
  });

  return [
    command(
      "order <id>",
      "An order by id, or by the reference of its emails: status, lines, totals, payment and saga timeline",
      (b, p) => showOrder(b, required(p, "id", "order <id | reference>")),
    ),
    command("outbox", "Outbox backlog of every service on every node", (b) => outboxStatus(b)),
    command("dlq <what> [arg]", "Dead letters: dlq list [topic] | show <id> | replay <id>", dlq),
    command(
      "queues [what] [queue] [job]",
      "Job queues: counts and failed jobs | queues retry <queue> [job]",
      queues,
    ),
    command(
      "search <what>",
      "Search index: search status | search rebuild [--clear] [--page-size <n>]",
      search,
      [
        { option: "--clear", description: "empty the index first" },
        { option: "--page-size <n>", description: "products per catalog page" },
      ],
    ),
    command("caches <what>", "caches clear: clean cached action results on every node", caches),
  ];
}
