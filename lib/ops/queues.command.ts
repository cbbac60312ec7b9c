import type { ServiceBroker } from "moleculer";
import { actionsNamed, callOnNodes, errorText } from "./cluster-calls";
import { Report, table } from "./output";
import type { QueueReport, QueueStatusAnswer, RetryFailedJobsAnswer } from "./queue-status";

/**
 * REPL `queues` and `queues retry <queue> [jobId]`: the job queues of every
 * service that owns some (`<service>.queueStatus`), asked on each node — an
 * in-process queue lives on its node; BullMQ queues are shared, so their
 * nodes answer alike — and failed jobs sent back to waiting.
 */
interface NodeQueues {
  service: string;
  nodeID: string;
  queues: QueueReport[];
}

async function queuesOfCluster(broker: ServiceBroker): Promise<NodeQueues[]> {
  const offered = actionsNamed(broker, "queueStatus");
  const perService = await Promise.all(
    offered.map(async ({ name, service, nodeIDs }) => {
      const answers = await callOnNodes<QueueStatusAnswer>(broker, name, nodeIDs);
      return answers.map((a) => {
        if (!a.ok) throw new Error(`${service} on ${a.nodeID} did not answer: ${a.error}`);
        return { service, nodeID: a.nodeID, queues: a.result.queues };
      });
    }),
  );
  return perService.flat();
}

export async function queuesStatus(broker: ServiceBroker): Promise<Report> {
  const nodes = await queuesOfCluster(broker);
  const counts = [];
  const failed = [];
  for (const { service, nodeID, queues } of nodes) {
    for (const q of queues) {
      const c = q.counts;
      counts.push([q.queue, service, nodeID, q.adapter, c.waiting, c.active, c.delayed, c.failed]);
      for (const job of q.failedJobs)
        failed.push([
          q.queue,
          nodeID,
          job.id,
          job.name,
          job.attemptsMade,
          job.failedAt,
          job.failedReason,
        ]);
    }
  }
  return [
    table(
      ["queue", "service", "node", "adapter", "waiting", "active", "delayed", "failed"],
      counts,
      "Queues",
    ),
    table(
      ["queue", "node", "job", "name", "attempts", "failed at", "reason"],
      failed,
      "Failed jobs (retry with: queues retry <queue> [job])",
    ),
  ];
}

export async function retryFailedJobs(
  broker: ServiceBroker,
  queue: string,
  jobId?: string,
): Promise<Report> {
  const nodes = await queuesOfCluster(broker);
  const owners = nodes.filter((n) => n.queues.some((q) => q.queue === queue));
  if (!owners.length) {
    const known = [...new Set(nodes.flatMap((n) => n.queues.map((q) => q.queue)))].sort();
    throw new Error(`No node has a queue "${queue}" (queues: ${known.join(", ") || "none"})`);
  }
  const params = { queue, ...(jobId ? { jobId } : {}) };
  const results = await Promise.all(
    owners.map(async ({ service, nodeID }) => {
      try {
        const answer = await broker.call<RetryFailedJobsAnswer, object>(
          `${service}.retryFailedJobs`,
          params,
          { nodeID },
        );
        return [service, nodeID, answer.retried];
      } catch (err) {
        return [service, nodeID, `failed: ${errorText(err)}`];
      }
    }),
  );
  const total = results.reduce((n, [, , r]) => n + (typeof r === "number" ? r : 0), 0);
  return [
    `Retried ${total} failed job(s) of ${queue}${jobId ? ` (job ${jobId})` : ""}`,
    table(["service", "node", "retried"], results),
  ];
}
