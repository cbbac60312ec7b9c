import type { IncomingRequest } from "moleculer-web";
import { redactCardDataInUrl } from "../../lib/security/card-data";

/** The request's URL as log lines may show it: card data in a path or query replaced. */
export function loggableUrl(req: IncomingRequest): string {
  return redactCardDataInUrl(req.originalUrl ?? req.url ?? "");
}
