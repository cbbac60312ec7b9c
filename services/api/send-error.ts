import type { Logger } from "moleculer";
import type { GatewayResponse, IncomingRequest } from "moleculer-web";
import { runWithRequestContext } from "../../lib/observability/request-context";
import { loggableUrl } from "./access-log";
import { toErrorResponse } from "./error-envelope";
import { requestIdFrom } from "./request-id";

/** What of the gateway service the error writer uses. */
export interface ErrorWriterHost {
  logger: Logger;
  logResponse(req: IncomingRequest, res: GatewayResponse): void;
}

/** Writes the error envelope; unexpected errors are logged with the request id. */
export function sendEnvelope(
  svc: ErrorWriterHost,
  req: IncomingRequest,
  res: GatewayResponse,
  err: unknown,
): void {
  const requestId =
    req.$ctx?.requestID ??
    (res.getHeader("X-Request-ID") as string | undefined) ??
    requestIdFrom(undefined);
  const response = toErrorResponse(err, requestId);
  if (response.unexpected) {
    runWithRequestContext({ requestId }, () =>
      svc.logger.error(`${req.method} ${loggableUrl(req)} failed:`, err),
    );
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = JSON.stringify(response.body);
  res.writeHead(response.status, {
    ...response.headers,
    "X-Request-ID": requestId,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
  svc.logResponse(req, res);
}
