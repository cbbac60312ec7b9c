import type { Role } from "./jwt";

/** What the gateway puts in ctx.meta for every call it makes. */
export interface RequestMeta {
  /** The authenticated caller, when the request carried a valid access token. */
  user?: { id: string; role: Role };
  /** Client address as the gateway resolved it (after trusted proxies). */
  clientIp?: string;
  /** `X-Cart-Token`: proves a guest holds the cart (the cart service checks it). */
  cartToken?: string;
  /** `Idempotency-Key` of POST /orders. */
  idempotencyKey?: string;
  /** Response status / headers an action may set (moleculer-web reads these). */
  $statusCode?: number;
  $responseHeaders?: Record<string, string>;
}
