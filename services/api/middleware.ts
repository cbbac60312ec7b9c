import type { RequestMeta } from "../../lib/auth/meta";
import type { GatewayResponse, IncomingRequest } from "moleculer-web";

/** A connect-style middleware, as moleculer-web's route `use` runs them. */
export type Middleware = (
  req: IncomingRequest,
  res: GatewayResponse,
  next: (err?: unknown) => void,
) => void;

/** The meta of the call the gateway is about to make for this request. */
export function requestMeta(req: IncomingRequest): RequestMeta {
  return req.$ctx.meta as RequestMeta;
}
