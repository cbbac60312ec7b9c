import type { Middleware } from "./middleware";

/**
 * CORS from CORS_ORIGINS: unset means no CORS headers at all, "*" allows any
 * origin, otherwise the Origin must equal one entry exactly. A refused origin
 * simply gets no headers (the browser blocks it); the request itself is served.
 *
 * Done here rather than with moleculer-web's `cors` so the headers are on every
 * response of the route, including 413/429 errors raised before its own CORS
 * step, and a preflight is answered before rate limiting and body parsing.
 */
const EXPOSED_HEADERS = [
  "X-Request-ID",
  "RateLimit-Limit",
  "RateLimit-Remaining",
  "RateLimit-Reset",
  "Retry-After",
].join(", ");
const METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE";
const DEFAULT_ALLOWED_HEADERS =
  "Authorization, Content-Type, X-Request-ID, X-Cart-Token, Idempotency-Key";

export function corsHeaders(
  allowedOrigins: readonly string[],
  origin: string | undefined,
  preflight?: { requestHeaders?: string },
): Record<string, string> {
  if (!origin || !allowedOrigins.length) return {};
  const headers: Record<string, string> = {};
  if (allowedOrigins.includes("*")) headers["Access-Control-Allow-Origin"] = "*";
  else if (allowedOrigins.includes(origin)) {
    headers["Access-Control-Allow-Origin"] = origin;
    headers["Vary"] = "Origin";
  } else return {};
  headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS;
  if (preflight) {
    headers["Access-Control-Allow-Methods"] = METHODS;
    headers["Access-Control-Allow-Headers"] = preflight.requestHeaders || DEFAULT_ALLOWED_HEADERS;
    headers["Access-Control-Max-Age"] = "600";
  }
  return headers;
}

export function corsMiddleware(allowedOrigins: readonly string[]): Middleware {
  return (req, res, next) => {
    const isPreflight =
      req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
    const headers = corsHeaders(
      allowedOrigins,
      req.headers.origin,
      isPreflight ? { requestHeaders: req.headers["access-control-request-headers"] } : undefined,
    );
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    if (!isPreflight) return next();
    // Every preflight is answered here (without CORS headers when the origin is not allowed):
    // moleculer-web would otherwise route it to the action of the requested method and run it.
    res.writeHead(204, { "Content-Length": "0" });
    res.end();
  };
}
