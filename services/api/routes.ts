import type { Logger } from "moleculer";
import ApiGateway from "moleculer-web";
import type { ApiRouteSchema } from "moleculer-web";
import type { Infrastructure } from "../../lib/infra";
import { clientIpMiddleware, trustedProxies } from "./client-ip";
import { corsMiddleware } from "./cors";
import { docsInitializer, docsPage, sendText, swaggerAssets } from "./docs";
import type { Middleware } from "./middleware";
import { rateLimitMiddleware } from "./rate-limit";

/**
 * The gateway's routes: /api/v1 (generated from the exposed services' `rest`
 * actions), the docs page under it, and the probes at the root.
 */
export const API_PREFIX = "/api/v1";

/** The gateway's own routed actions (every other `api.*` action stays unexposed). */
const OWN_ACTIONS = ["api.health", "api.ready", "api.openapi"];

type BodyParsers = {
  json(o: { limit: string }): Middleware;
  urlencoded(o: { limit: string; extended: boolean }): Middleware;
};

export function buildRoutes(
  infra: Infrastructure,
  services: readonly string[],
  logger: Logger,
): ApiRouteSchema[] {
  const { config } = infra;
  const bodyParser = ApiGateway.bodyParser as unknown as BodyParsers;
  // Order matters: CORS first (so errors carry it), the limit before any body is read.
  const front = [
    corsMiddleware(config.corsOrigins),
    clientIpMiddleware(trustedProxies(config.trustProxy)),
    rateLimitMiddleware({
      kv: infra.kv,
      prefix: API_PREFIX,
      logger,
      policy: {
        windowMs: config.rateLimitWindowMs,
        max: config.rateLimitMax,
        authMax: config.authRateLimitMax,
      },
    }),
  ];
  return [
    {
      name: "api",
      path: API_PREFIX,
      autoAliases: true,
      mappingPolicy: "restrict",
      whitelist: [...services.map((s) => `${s}.**`), ...OWN_ACTIONS],
      authorization: true,
      bodyParsers: false,
      use: [
        ...front,
        bodyParser.json({ limit: config.bodyLimit }),
        bodyParser.urlencoded({ limit: config.bodyLimit, extended: true }),
      ],
    },
    {
      name: "docs",
      path: `${API_PREFIX}/docs`,
      mappingPolicy: "restrict",
      bodyParsers: false,
      logging: false,
      use: [...front, swaggerAssets()],
      aliases: {
        "GET /": sendText("text/html", docsPage(`${API_PREFIX}/docs`)),
        "GET /init.js": sendText("text/javascript", docsInitializer(`${API_PREFIX}/openapi.json`)),
      },
    },
    {
      // Probes at the root, outside rate limits and request logs.
      name: "probes",
      path: "/health",
      mappingPolicy: "restrict",
      bodyParsers: false,
      logging: false,
      aliases: { "GET /": "api.health", "GET /ready": "api.ready" },
    },
  ];
}
