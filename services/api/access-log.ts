import type { IncomingRequest } from "moleculer-web";
import { redactCardDataInUrl } from "../../lib/security/card-data";

/** The request's URL as log lines may show it: card data in a path or query replaced. */
export function loggableUrl(req: IncomingRequest): string {
  return redactCardDataInUrl(req.originalUrl ?? req.url ?? "");
}

/**
 * The request as moleculer-web's access log reads it (`originalUrl`), with
 * that URL made loggable; everything else is the request itself.
 */
export function withLoggableUrl(req: IncomingRequest): IncomingRequest {
  return Object.create(req, { originalUrl: { value: loggableUrl(req) } }) as IncomingRequest;
}
