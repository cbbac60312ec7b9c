import { Loggers, type LoggerConfig } from "moleculer";
import type { Config } from "../config";
import { currentRequestContext } from "./request-context";

type Printer = { printArgs: (args: unknown[]) => unknown[] };
type Bindings = { nodeID: string; ns: string; mod: string; svc?: string };

/** One JSON object per line, with the request/saga ids of the work in hand. */
function jsonFormatter(
  type: string,
  args: unknown[],
  bindings: Bindings,
  { printArgs }: Printer,
): string[] {
  const ctx = currentRequestContext();
  const line: Record<string, unknown> = {
    time: new Date().toISOString(),
    level: type,
    msg: printArgs(args).join(" "),
    nodeID: bindings.nodeID,
    mod: bindings.mod,
  };
  if (ctx?.requestId) line.requestId = ctx.requestId;
  if (ctx?.correlationId && ctx.correlationId !== ctx.requestId)
    line.correlationId = ctx.correlationId;
  if (ctx?.sagaId) line.sagaId = ctx.sagaId;
  return [JSON.stringify(line)];
}

/** Readable lines for development, still naming the request. */
function textFormatter(
  type: string,
  args: unknown[],
  bindings: Bindings,
  { printArgs }: Printer,
): unknown[] {
  const ctx = currentRequestContext();
  const ids = [
    ctx?.requestId && `req=${ctx.requestId}`,
    ctx?.sagaId && `saga=${ctx.sagaId}`,
  ].filter(Boolean);
  return [
    `[${new Date().toISOString().substring(11)}] ${type.toUpperCase().padEnd(5)} ${bindings.mod.toUpperCase()}:`,
    ...printArgs(args),
    ...(ids.length ? [`(${ids.join(" ")})`] : []),
  ];
}

/** Whether a line at `level` is written when the logger is set to `configured`. */
export function logLevelEnabled(configured: string, level: string | false | null): boolean {
  if (!level) return false;
  // Moleculer's own order, most severe first.
  const levels: readonly string[] = Loggers.LEVELS;
  const at = levels.indexOf(level);
  return at !== -1 && at <= levels.indexOf(configured);
}

export function loggerOptions(config: Config): LoggerConfig {
  const format = config.logFormat ?? (config.nodeEnv === "production" ? "json" : "text");
  return {
    type: "Console",
    options: {
      level: config.logLevel,
      colors: format !== "json" && process.stdout.isTTY === true,
      formatter: format === "json" ? jsonFormatter : textFormatter,
    },
  } as LoggerConfig;
}
