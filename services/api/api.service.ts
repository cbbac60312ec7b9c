import type { KeyObject } from "node:crypto";
import type { Server } from "node:http";
import type { Context, Service, ServiceSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import type { ApiSettingsSchema, GatewayResponse, IncomingRequest } from "moleculer-web";
import { verifyAccessToken } from "../../lib/auth/jwt";
import { keyId } from "../../lib/auth/keys";
import type { RequestMeta } from "../../lib/auth/meta";
import type { Config } from "../../lib/config";
import { logLevelEnabled } from "../../lib/observability/logger";
import { infrastructureOf } from "../../lib/infra";
import { httpsServerOptions } from "../../lib/infra/tls";
import { loggableUrl } from "./access-log";
import { authLevelOf, authorize as checkAccess, TokenVerifier } from "./auth";
import { answerClientError } from "./client-error";
import { assertNullsAllowed } from "./null-guard";
import { readiness } from "./health";
import { buildOpenApiDocument, JsonSchema, RouteDoc } from "./openapi";
import { requestIdFrom } from "./request-id";
import { API_PREFIX, buildRoutes } from "./routes";
import { sendEnvelope } from "./send-error";
import { encodeJson } from "../../lib/immutable";

/**
 * The API gateway (moleculer-web): /api/v1 routes generated from the `rest`
 * property of the exposed services' actions, JWT auth from each action's
 * `auth` property, rate limits, request ids, the error envelope, OpenAPI +
 * docs page and health probes. This file is the Moleculer glue; the rules
 * live in the modules beside it.
 */
export { API_PREFIX };

/**
 * The domain services routed under /api/v1, and awaited by readiness (on this
 * node or another). A new domain service adds its name here.
 */
export const DOMAIN_SERVICES = [
  "users",
  "inventory",
  "catalog",
  "search",
  "cart",
  "orders",
  "payments",
  "notifications",
] as const;

export interface ApiServiceOptions {
  /** Services whose `rest` actions are exposed, and whose presence readiness checks. */
  services?: readonly string[];
}

/** moleculer-web's alias objects, as far as the OpenAPI builder reads them. */
interface AliasInfo {
  route: { path: string };
  method: string;
  fullPath: string;
  action: string | null;
}

interface Locals {
  server: Server;
  routes: { opts: { autoAliases?: boolean } }[];
  aliases: AliasInfo[];
  verifyToken: TokenVerifier;
  /** Whether the access log's levels (settings.logRequest, logResponse) are on. */
  accessLog: { request: boolean; response: boolean };
  openApiCache?: JsonSchema;
}

interface Methods {
  regenerateAutoAliases(route: Locals["routes"][number]): void;
  sendError(req: IncomingRequest, res: GatewayResponse, err: unknown): void;
  logRequest(req: IncomingRequest): void;
  logResponse(req: IncomingRequest, res: GatewayResponse): void;
}

type ApiService = Service<ApiSettingsSchema> & Locals & Methods;

type Schema = ServiceSchema<ApiSettingsSchema, Methods, Locals>;

export function createApiService(options: ApiServiceOptions = {}): Schema {
  const services = options.services ?? DOMAIN_SERVICES;
  // `merged` is a Moleculer lifecycle hook its typings leave out.
  const schema: Schema & { merged(this: Service, schema: Schema): void } = {
    name: "api",
    mixins: [ApiGateway],

    settings: {
      // The convention every service follows: paths in `rest` are relative to /api/v1.
      rest: "/",
      // Bodies carry passwords and tokens: never logged.
      logRequestParams: null,
      logResponseData: null,
      logRouteRegistration: "debug",
      // The client's X-Request-ID (when sane) becomes the requestID of the whole call chain.
      // (moleculer-web also takes a function here; its typings only say object.)
      rootCallOptions: ((options: { requestID?: string }, req: IncomingRequest) => {
        options.requestID = requestIdFrom(req.headers["x-request-id"]);
      }) as unknown as ApiSettingsSchema["rootCallOptions"],
      onError(req, res, err) {
        sendEnvelope(req.$service as ApiService, req, res as GatewayResponse, err);
      },
    },

    // Settings that depend on the node's configuration are filled in once the broker is known.
    merged(this: Service, schema: Schema) {
      const infra = infrastructureOf(this.broker);
      const logger = this.broker.getLogger("api", { svc: "api" });
      Object.assign(schema.settings!, {
        port: infra.config.port,
        ip: infra.config.host,
        // HTTPS_CERT_FILE + HTTPS_KEY_FILE: HTTPS only on PORT (files read now, at start).
        https: httpsServerOptions(infra.config),
        routes: buildRoutes(infra, services, logger),
      });
    },

    actions: {
      // moleculer-web names every request's span after its URL and tags it with it; those are
      // redacted like the access log, so a card number in a URL reaches no trace either.
      rest: {
        tracing: {
          spanName: (ctx: Context) => `${requestOf(ctx).method} ${loggableUrl(requestOf(ctx))}`,
          tags: (ctx: Context) => ({
            method: requestOf(ctx).method,
            url: loggableUrl(requestOf(ctx)),
          }),
        },
      },
      health: {
        rest: "GET /health",
        auth: "public",
        openapi: { summary: "Liveness probe", tags: ["health"], response: { status: "ok" } },
        handler: () => ({ status: "ok" }),
      },
      ready: {
        rest: "GET /health/ready",
        auth: "public",
        openapi: {
          summary: "Readiness: ports answer, routed services registered",
          tags: ["health"],
        },
        async handler(ctx: Context<unknown, RequestMeta>) {
          const registered = this.broker.registry
            .getServiceList({ onlyAvailable: true })
            .map((s: { name: string }) => s.name);
          const ports = await infrastructureOf(this.broker).check();
          const result = readiness(ports, services, new Set(registered));
          if (result.status !== "ok") ctx.meta.$statusCode = 503;
          return result;
        },
      },
      openapi: {
        rest: "GET /openapi.json",
        auth: "public",
        openapi: { summary: "This document", tags: ["docs"] },
        handler() {
          this.openApiCache ??= openApiDocument(this);
          return this.openApiCache;
        },
      },
    },

    events: {
      // moleculer-web regenerates routes 500 ms after `$services.changed`; at start that would
      // leave the routes of this node's own services missing for a moment, so do it at once.
      "$broker.started"() {
        for (const route of this.routes)
          if (route.opts.autoAliases) this.regenerateAutoAliases(route);
        this.openApiCache = undefined;
      },
      // Routes change with the registry; the aliases are regenerated (debounced) after it.
      "$services.changed"() {
        this.openApiCache = undefined;
      },
      "$api.aliases.regenerated"() {
        this.openApiCache = undefined;
      },
    },

    methods: {
      /** moleculer-web's JSON encoder: a cached (immutable) result is encoded once, not per request. */
      encodeResponse(_req: unknown, _res: unknown, data: unknown): string {
        return encodeJson(data);
      },

      /** moleculer-web's `authorization: true` hook: runs once the action is resolved. */
      authorize(ctx: Context<unknown, RequestMeta>, _route: unknown, req: IncomingRequest) {
        const user = checkAccess(
          authLevelOf(req.$action),
          req.headers.authorization,
          this.verifyToken,
        );
        if (user) ctx.meta.user = user;
        // The only request headers actions see: a guest cart's token, a checkout's idempotency key.
        const cartToken = singleHeader(req.headers["x-cart-token"]);
        if (cartToken) ctx.meta.cartToken = cartToken;
        const idempotencyKey = singleHeader(req.headers["idempotency-key"]);
        if (idempotencyKey) ctx.meta.idempotencyKey = idempotencyKey;
        // Validation the action's own validator misses; after access is checked, like the rest.
        assertNullsAllowed((req.$action as { params?: unknown } | undefined)?.params, req.$params);
      },
      /**
       * The access log: moleculer-web's lines, with card data cut out of the URL.
       * Nothing is formatted when its level is off (it cost half of a cheap request).
       */
      logRequest(req: IncomingRequest) {
        if (!this.accessLog.request || !routeLogs(req)) return;
        this.logger[this.settings.logRequest as "info"](`=> ${req.method} ${loggableUrl(req)}`);
      },
      logResponse(req: IncomingRequest, res: GatewayResponse) {
        if (!this.accessLog.response || !routeLogs(req)) return;
        const started = req.$startTime as [number, number] | undefined;
        const [s, ns] = started ? process.hrtime(started) : [0, 0];
        const ms = (s * 1e3 + ns / 1e6).toFixed(3);
        this.logger[this.settings.logResponse as "info"](
          `<= ${res.statusCode} ${req.method} ${loggableUrl(req)} [+${ms} ms]`,
        );
      },
      /** Replaces moleculer-web's, which logs without the request id; sendEnvelope logs. */
      errorHandler(req: IncomingRequest, res: GatewayResponse, err: unknown) {
        this.sendError(req, res, err);
      },
    },

    created() {
      const infra = infrastructureOf(this.broker);
      // Loaded here so a gateway without its key fails at start, not on the first request.
      const { publicKeys } = infra.signingKeys((msg) => this.logger.warn(msg));
      this.verifyToken = tokenVerifier(publicKeys, infra.config);
      this.logger.info(`Access tokens are accepted from keys ${publicKeys.map(keyId).join(", ")}`);
      const level = infra.config.logLevel;
      this.accessLog = {
        request: logLevelEnabled(level, this.settings.logRequest ?? "info"),
        response: logLevelEnabled(level, this.settings.logResponse ?? "info"),
      };
      // Requests Node's parser refuses (oversized headers, malformed) get the envelope too.
      this.server.on("clientError", answerClientError);
    },
  };
  return schema;
}

/** moleculer-web's per-route switch for the access log. */
function routeLogs(req: IncomingRequest): boolean {
  const route = (req as { $route?: { logging?: boolean } }).$route;
  return !route || route.logging !== false;
}

function tokenVerifier(publicKeys: KeyObject[], config: Config): TokenVerifier {
  const expected = { issuer: config.jwtIssuer, audience: config.jwtAudience };
  return (token) => verifyAccessToken(token, publicKeys, expected);
}

/** The OpenAPI document of what the /api/v1 route serves right now. */
function openApiDocument(svc: ApiService): JsonSchema {
  const actions = new Map(
    svc.broker.registry.getActionList({}).map((a) => [a.name, a.action ?? {}] as const),
  );
  const routes: RouteDoc[] = [];
  for (const alias of svc.aliases) {
    const action = alias.action ? actions.get(alias.action) : undefined;
    if (alias.route.path !== API_PREFIX || !alias.action || !action) continue;
    routes.push({
      method: alias.method,
      path: alias.fullPath.slice(API_PREFIX.length) || "/",
      action: { ...action, name: alias.action },
    });
  }
  return buildOpenApiDocument(routes, {
    title: "Moleculer Commerce API",
    version: "1",
    serverUrl: API_PREFIX,
  });
}

export default createApiService();

/** The HTTP request moleculer-web's `rest` action serves. */
function requestOf(ctx: Context): IncomingRequest {
  return (ctx.params as { req: IncomingRequest }).req;
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
