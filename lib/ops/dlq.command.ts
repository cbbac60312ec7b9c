import type { ServiceBroker } from "moleculer";
import type { DeadLetter, DeadLetterSummary, Page } from "../../services/ops/dead-letter-store";
import { Report, table } from "./output";

/**
 * REPL `dlq list [topic]`, `dlq show <id>`, `dlq replay <id>`: the messages
 * consumers gave up on (stored by the deadletters service from every
 * `<topic>.dlq`), what they carried and why they failed, and sending one
 * back to its topic once the cause is fixed.
 */
const LISTED = 50;

export async function listDeadLetters(broker: ServiceBroker, topic?: string): Promise<Report> {
  const page = await broker.call<Page<DeadLetterSummary>, object>("deadletters.list", {
    ...(topic ? { topic } : {}),
    pageSize: LISTED,
  });
  const shown = page.items.length < page.total ? ` (newest ${page.items.length})` : "";
  return [
    table(
      ["id", "topic", "group", "type", "aggregate", "status", "replays", "received", "error"],
      page.items.map((l) => [
        l.id,
        l.topic,
        l.group,
        l.type,
        l.aggregateId,
        l.status,
        l.replayCount,
        l.receivedAt,
        l.error,
      ]),
      `Dead letters${topic ? ` of ${topic}` : ""}: ${page.total}${shown}`,
    ),
  ];
}

export async function showDeadLetter(broker: ServiceBroker, id: string): Promise<Report> {
  const letter = await broker.call<DeadLetter, object>("deadletters.get", { id });
  return [
    table(
      ["field", "value"],
      [
        ["topic", letter.topic],
        ["group", letter.group],
        ["message id", letter.messageId],
        ["type", letter.type],
        ["aggregate", letter.aggregateId],
        ["status", letter.status],
        ["attempts", letter.attempts],
        ["error", letter.error],
        ["received", letter.receivedAt],
        ["replays", letter.replayCount],
        ["last replayed", letter.replayedAt],
      ],
      `Dead letter #${letter.id}`,
    ),
    table(
      ["header", "value"],
      Object.entries(letter.headers).sort(([a], [b]) => a.localeCompare(b)),
      "Headers",
    ),
    "Payload:",
    JSON.stringify(letter.payload, null, 2),
  ];
}

export async function replayDeadLetter(broker: ServiceBroker, id: string): Promise<Report> {
  const { replayed } = await broker.call<{ replayed: DeadLetterSummary[] }, object>(
    "deadletters.replay",
    { id },
  );
  return replayed.map(
    (l) =>
      `Replayed dead letter #${l.id} to ${l.topic} (replay ${l.replayCount}); ` +
      `every consumer group of the topic gets it again`,
  );
}
