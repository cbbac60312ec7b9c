import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import type { ErrorEnvelope, EnvelopeType } from "./error-envelope";

/**
 * Node's HTTP parser refuses some requests before any route sees them:
 * headers over the size limit, a malformed request line or header, a request
 * that takes too long to arrive. Node's own answer to those has no body; this
 * one is the error envelope like every other answer, then the connection
 * closes (the parser cannot go on after such an error). Wired to the
 * server's `clientError` event in api.service.ts.
 */
const REFUSALS: Record<string, { status: number; type: EnvelopeType; message: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    type: "HEADERS_TOO_LARGE",
    message: "Request headers (or the URL) are too large",
  },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    status: 413,
    type: "PAYLOAD_TOO_LARGE",
    message: "Request body is too large",
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    type: "REQUEST_TIMEOUT",
    message: "The request took too long to arrive",
  },
};
const MALFORMED = { status: 400, type: "BAD_REQUEST", message: "Malformed HTTP request" } as const;

export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  // As Node does: nothing can be written to a closed socket, or after a response already began.
  const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === "ECONNRESET" || !socket.writable || answering?.headersSent) {
    socket.destroy();
    return;
  }
  const { status, type, message } = (err.code && REFUSALS[err.code]) || MALFORMED;
  const requestId = randomUUID();
  const envelope: ErrorEnvelope = {
    error: { type, message, code: status, requestId, details: [] },
  };
  const body = JSON.stringify(envelope);
  socket.end(
    [
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
      "Content-Type: application/json; charset=utf-8",
      `Content-Length: ${Buffer.byteLength(body)}`,
      `X-Request-ID: ${requestId}`,
      "Connection: close",
      "",
      body,
    ].join("\r\n"),
  );
}
