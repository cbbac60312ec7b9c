import type { ServiceBroker } from "moleculer";
import type { OutboxStatus } from "../messaging/outbox";
import { actionsNamed, callOnNodes } from "./cluster-calls";
import { formatDuration, Report, table } from "./output";

/**
 * REPL `outbox`: each service's transactional outbox, from every node that
 * runs it (`<service>.outboxStatus`): rows committed but not yet published,
 * and how long the oldest has waited. A backlog that grows or ages past the
 * sweeper's interval means publishing is failing (see that node's log).
 */
export async function outboxStatus(broker: ServiceBroker): Promise<Report> {
  const offered = actionsNamed(broker, "outboxStatus");
  const rows = await Promise.all(
    offered.map(async ({ name, service, nodeIDs }) => {
      const answers = await callOnNodes<OutboxStatus>(broker, name, nodeIDs);
      return answers.map((a) =>
        a.ok
          ? [
              service,
              a.nodeID,
              a.result.unpublished,
              a.result.unpublished ? formatDuration(a.result.oldestUnpublishedAgeMs) : "-",
            ]
          : [service, a.nodeID, null, `no answer: ${a.error}`],
      );
    }),
  );
  return [table(["service", "node", "unpublished", "oldest waiting"], rows.flat(), "Outboxes")];
}
