import type { Logger } from "moleculer";

/** The line the library's adapters log at debug level for every message they publish. */
const PUBLISH_LINE = /^Publish a message to '[^']*' (channel|topic)\.\.\.$/;

/**
 * The logger an adapter gets, minus the bodies of published messages.
 *
 * @moleculer/channels' Redis, Kafka and fake adapters log every message they
 * publish whole at debug level, with its headers: customers' names, postal
 * and email addresses. Debug is what an operator turns on to chase a fault,
 * and those lines then carry personal data into log storage. This logger
 * keeps the line (it shows the publish happened) and names the message by id
 * instead of printing it. Every other line is passed on unchanged.
 */
export function withoutPublishedBodies(logger: Logger): Logger {
  return {
    ...logger,
    debug(...args: unknown[]) {
      if (typeof args[0] !== "string" || !PUBLISH_LINE.test(args[0])) return logger.debug(...args);
      const id = messageIdOf(args[1], args[2]);
      return id ? logger.debug(args[0], `message ${id}`) : logger.debug(args[0]);
    },
  };
}

/** The envelope header, else the envelope's own id (sendToChannel without headers). */
function messageIdOf(payload: unknown, opts: unknown): string | undefined {
  const header = (opts as { headers?: Record<string, unknown> } | undefined)?.headers?.messageId;
  if (typeof header === "string") return header;
  const id = (payload as { id?: unknown } | null | undefined)?.id;
  return typeof id === "string" ? id : undefined;
}
