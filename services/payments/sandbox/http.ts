import type { IncomingMessage, ServerResponse } from "node:http";
import type { ApiResponse } from "./types";

/** Request and response plumbing of the sandbox's plain Node HTTP server. */
const MAX_BODY_BYTES = 1024 * 1024;

export class BodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyError(413, "Request body is too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Parameters from a JSON or a form body, as Stripe accepts them; form keys
 * like `metadata[order_id]` become nested objects.
 */
export function parseParams(raw: string, contentType: string | undefined): Record<string, unknown> {
  if (!raw.trim()) return {};
  if ((contentType ?? "").includes("json")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new BodyError(400, "Request body is not valid JSON");
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new BodyError(400, "Request body must be a JSON object");
    return parsed as Record<string, unknown>;
  }
  const params: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const nested = /^([^[\]]+)\[([^[\]]+)\]$/.exec(key);
    if (!nested) {
      params[key] = value;
      continue;
    }
    const [, outer, inner] = nested;
    const target = (params[outer] ??= {}) as Record<string, unknown>;
    if (typeof target === "object") target[inner] = value;
  }
  return params;
}

export function send(
  res: ServerResponse,
  response: ApiResponse,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify(response.body);
  res.writeHead(response.status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}
