import type { Logger } from "moleculer";
import ApiGateway from "moleculer-web";
import type { ApiRouteSchema, IncomingRequest } from "moleculer-web";
import { AppError } from "../../lib/errors";
import type { Infrastructure } from "../../lib/infra";
import { cardDataGuard } from "./card-data-guard";
import { nulCharacterGuard } from "./nul-guard";
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
  raw(o: { limit: string; type: () => boolean }): Middleware;
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
      // Payment provider webhooks: the signature covers the exact bytes sent, so the
      // body is kept raw and handed to the payments service, which alone holds the secret.
      name: "payment-webhooks",
      path: `${API_PREFIX}/payments/webhooks`,
      mappingPolicy: "restrict",
      authorization: false,
      bodyParsers: false,
      use: [
        ...front,
        parserStatusKept(bodyParser.raw({ limit: config.bodyLimit, type: () => true })),
      ],
      aliases: { "POST /:provider": "payments.receiveWebhook" },
      onBeforeCall(_ctx: unknown, _route: unknown, req: IncomingRequest) {
        req.$params = webhookParams(req);
      },
    },
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
        parserStatusKept(bodyParser.json({ limit: config.bodyLimit })),
        parserStatusKept(bodyParser.urlencoded({ limit: config.bodyLimit, extended: true })),
        // After both parsers, so JSON and form bodies are checked alike.
        cardDataGuard(),
        nulCharacterGuard(),
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

/**
 * body-parser's errors carry their HTTP status in `status`, but moleculer-web
 * takes an error's `code` first, and a body that is not the gzip (or deflate,
 * br) its Content-Encoding claims fails with zlib's string code: a client's
 * mistake became a 500. Such a failure is the client's 400.
 */
function parserStatusKept(parser: Middleware): Middleware {
  return (req, res, next) =>
    parser(req, res, (err?: unknown) => {
      const failed = err as { status?: unknown; code?: unknown } | undefined;
      if (failed && typeof failed.code === "string" && failed.status === 400)
        return next(
          AppError.validation("Request body could not be decoded as its Content-Encoding says"),
        );
      next(err);
    });
}

/** What payments.receiveWebhook gets: the provider from the path, the raw body, the signature. */
function webhookParams(req: IncomingRequest): Record<string, unknown> {
  const { body, headers } = req as IncomingRequest & { body?: unknown };
  const signature = headers["sandbox-signature"];
  return {
    provider: String((req.$params as { provider?: unknown }).provider ?? ""),
    rawBody: Buffer.isBuffer(body) ? body.toString("utf8") : "",
    ...(typeof signature === "string" ? { signature } : {}),
  };
}
