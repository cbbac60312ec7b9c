import { format } from "node:util";
import { findCardDataInText } from "./card-data-scan";

/**
 * The node's log output, kept instead of printed. Moleculer's console logger
 * writes through console.log/warn/error; each line is formatted as the
 * console would print it and scanned for card data as it is written, so
 * thousands of fuzzed requests' lines need not be held in memory: only the
 * error lines (a few hundred at most) and the last lines are kept.
 */
export interface LogCapture {
  lineCount: number;
  /** Card numbers or security codes found in any line, masked. */
  cardData: string[];
  /** Every run of 43 base64url characters (an opaque token's shape) found in any line. */
  tokenLike: Set<string>;
  /** Lines logged at error or fatal level. */
  errorLines: string[];
  /** The last lines logged, newest last. */
  recent: string[];
  /** Stops adding lines to this capture. */
  release(): void;
}

const MAX_ERROR_LINES = 200;
/** 32 random bytes in base64url, standing on their own (services/users/domain/opaque-tokens.ts). */
const TOKEN_LIKE = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g;
const RECENT_LINES = 200;
const active = new Set<LogCapture>();
let installed = false;

/** Captures every line logged from now until release() (one capture per platform). */
export function captureLogs(): LogCapture {
  installOnce();
  const logs: LogCapture = {
    lineCount: 0,
    cardData: [],
    tokenLike: new Set(),
    errorLines: [],
    recent: [],
    release: () => active.delete(logs),
  };
  active.add(logs);
  return logs;
}

function installOnce(): void {
  if (installed) return;
  installed = true;
  const keep =
    (level: string) =>
    (...args: unknown[]) => {
      const line = format(...args);
      const found = findCardDataInText(line);
      const tokens = line.match(TOKEN_LIKE) ?? [];
      for (const logs of active) {
        logs.lineCount++;
        logs.cardData.push(...found);
        for (const token of tokens) logs.tokenLike.add(token);
        if (level === "error" && logs.errorLines.length < MAX_ERROR_LINES)
          logs.errorLines.push(line);
        logs.recent.push(line);
        if (logs.recent.length > RECENT_LINES) logs.recent.shift();
      }
    };
  // Replaced for the rest of the test file rather than spied on: a jest spy would keep
  // every call's arguments, which the fuzz suite's memory check would count as the node's.
  const sink = console as unknown as Record<string, (...args: unknown[]) => void>;
  for (const level of ["log", "info", "warn", "error", "debug", "trace"]) sink[level] = keep(level);
}
