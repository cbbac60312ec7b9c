import type { Logger } from "moleculer";
import { AppError } from "../../lib/errors";
import type { KeyValueStore } from "../../lib/infra/kv/port";
import { Middleware, requestMeta } from "./middleware";

/**
 * Fixed-window rate limits per client address, counted in the key-value port
 * (Redis when configured), so every gateway instance shares one count.
 * Requests under /api/v1/auth/ count in their own, stricter bucket.
 */
export interface RateLimitPolicy {
  windowMs: number;
  /** Requests per window on the API; 0 disables. */
  max: number;
  /** Requests per window on the auth routes; 0 disables. */
  authMax: number;
}

export interface Bucket {
  name: "api" | "auth";
  max: number;
}

/** The bucket a request path counts in; null when that bucket is disabled. */
export function bucketFor(path: string, prefix: string, policy: RateLimitPolicy): Bucket | null {
  // Routes match case-insensitively, so the bucket must too: /API/V1/AUTH/login is a login.
  const p = path.toLowerCase();
  const auth = p === `${prefix}/auth` || p.startsWith(`${prefix}/auth/`);
  const bucket: Bucket = auth
    ? { name: "auth", max: policy.authMax }
    : { name: "api", max: policy.max };
  return bucket.max > 0 ? bucket : null;
}

/** IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers), reset in seconds. */
export function rateLimitHeaders(
  max: number,
  count: number,
  ttlMs: number,
): Record<string, string> {
  return {
    "RateLimit-Limit": String(max),
    "RateLimit-Remaining": String(Math.max(0, max - count)),
    "RateLimit-Reset": String(secondsLeft(ttlMs)),
  };
}

export function secondsLeft(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs / 1000));
}

/**
 * Counts the request and refuses it with 429 once over the limit. Runs after
 * the client address is resolved into ctx.meta.clientIp. When the store fails
 * the request is let through (logged): an outage of Redis must not take the
 * whole API down with it.
 */
export function rateLimitMiddleware(opts: {
  kv: KeyValueStore;
  policy: RateLimitPolicy;
  prefix: string;
  logger: Logger;
}): Middleware {
  const { kv, policy, prefix, logger } = opts;
  // One warning per outage, not one per request.
  let storeDown = false;
  return (req, res, next) => {
    const path = (req.parsedUrl ?? req.originalUrl ?? req.url ?? "").split("?")[0];
    const bucket = bucketFor(path, prefix, policy);
    if (!bucket) return next();
    const ip = requestMeta(req).clientIp ?? "unknown";
    kv.increment(`ratelimit:${bucket.name}:${ip}`, policy.windowMs).then(
      ({ count, ttlMs }) => {
        if (storeDown) logger.info("Rate limit store answers again");
        storeDown = false;
        for (const [name, value] of Object.entries(rateLimitHeaders(bucket.max, count, ttlMs)))
          res.setHeader(name, value);
        next(count > bucket.max ? AppError.rateLimited(secondsLeft(ttlMs)) : undefined);
      },
      (err: Error) => {
        if (!storeDown)
          logger.warn(`Rate limit store failing, requests let through: ${err.message}`);
        storeDown = true;
        next();
      },
    );
  };
}
