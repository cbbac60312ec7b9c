import { createHmac, generateKeyPairSync, KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import type { Context, ServiceSchema } from "moleculer";
import { signAccessToken } from "../../lib/auth/jwt";
import type { RequestMeta } from "../../lib/auth/meta";
import { AppError } from "../../lib/errors";
import { infrastructureOf } from "../../lib/infra";
import { currentRequestContext } from "../../lib/observability/request-context";
import { adaptersFor } from "../helpers/servers";
import { Platform, PlatformResponse, startPlatform, withRealServers } from "../helpers/platform";
import { waitFor } from "../helpers/wait";

/**
 * The gateway end to end: a real broker, real HTTP, and a small test-only
 * service with one action per auth level, a `$$strict` schema and failures of
 * each kind.
 */
type Ctx<P = Record<string, unknown>> = Context<P, RequestMeta & { $location?: string }>;

interface Envelope {
  error: { type: string; message: string; code: number; requestId: string; details: unknown[] };
}

const THING_ID = "0b7a3c1e-4a4f-4a52-9d43-7cf1f0b0a001";

const GwTestService: ServiceSchema = {
  name: "gwtest",
  settings: { rest: "/" },
  actions: {
    open: {
      rest: "GET /things/open",
      auth: "public",
      async handler(ctx: Ctx) {
        return {
          user: ctx.meta.user ?? null,
          clientIp: ctx.meta.clientIp,
          requestId: ctx.requestID,
          logContextRequestId: currentRequestContext()?.requestId,
          nested: await ctx.call("gwtest.whoami"),
        };
      },
    },
    // Not routed (no `rest`): reachable only from other actions.
    whoami: {
      handler(ctx: Ctx) {
        return { requestId: ctx.requestID, user: ctx.meta.user ?? null };
      },
    },
    mine: {
      // No `auth`: secure by default.
      rest: "GET /things/mine",
      handler(ctx: Ctx) {
        return { user: ctx.meta.user };
      },
    },
    list: {
      rest: "GET /things",
      auth: "public",
      params: {
        q: { type: "string", optional: true, max: 50 },
        page: { type: "number", integer: true, min: 1, convert: true, optional: true },
      },
      handler(ctx: Ctx<{ q?: string; page?: number }>) {
        return { items: [], page: ctx.params.page ?? 1, q: ctx.params.q ?? null };
      },
    },
    create: {
      rest: "POST /things",
      auth: "user",
      params: {
        $$strict: true,
        name: { type: "string", min: 2, max: 20 },
        qty: { type: "number", integer: true, min: 1, optional: true, convert: true },
      },
      openapi: { summary: "Create a thing", tags: ["things"], status: 201 },
      handler(ctx: Ctx<{ name: string; qty?: number }>) {
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = `/api/v1/things/${THING_ID}`;
        return { id: THING_ID, ...ctx.params, owner: ctx.meta.user?.id };
      },
    },
    update: {
      rest: "PATCH /things/:id",
      params: { $$strict: true, id: "uuid", name: { type: "string", optional: true } },
      handler(ctx: Ctx<{ id: string; name?: string }>) {
        return ctx.params;
      },
    },
    remove: {
      rest: "DELETE /things/:id",
      auth: "admin",
      params: { id: "string" },
      handler(ctx: Ctx<{ id: string }>) {
        return { deleted: ctx.params.id };
      },
    },
    boom: {
      rest: "GET /things/boom",
      auth: "public",
      handler() {
        throw new Error("connect ECONNREFUSED db-primary:3306 password=hunter2");
      },
    },
    conflict: {
      rest: "POST /things/conflict",
      auth: "public",
      handler() {
        throw AppError.conflict("Thing already exists", [{ field: "name", message: "taken" }]);
      },
    },
    login: {
      rest: "POST /auth/login",
      auth: "public",
      handler: () => ({ ok: true }),
    },
    hidden: {
      rest: "GET /things/hidden",
      visibility: "protected",
      auth: "public",
      handler: () => ({ secret: true }),
    },
  },
};

type Role = "customer" | "admin";

function tokens(platform: Platform) {
  const infra = infrastructureOf(platform.broker);
  const { privateKey } = infra.signingKeys();
  const { jwtIssuer: issuer, jwtAudience: audience } = infra.config;
  const settings = { issuer, audience, ttlSec: 300 };
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: "user-1", role: "customer", typ: "access", iss: issuer, aud: audience };
  return {
    valid: (role: Role = "customer", sub = "user-1") =>
      signAccessToken({ sub, role }, privateKey!, settings),
    expired: () =>
      jwt.sign({ ...claims, exp: now - 60, iat: now - 960 }, privateKey!, { algorithm: "ES256" }),
    wrongAudience: () =>
      signAccessToken({ sub: "user-1", role: "customer" }, privateKey!, {
        ...settings,
        audience: "someone-else",
      }),
    wrongKey: () => {
      const other: KeyObject = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
      return signAccessToken({ sub: "user-1", role: "admin" }, other, settings);
    },
    algNone: () =>
      `${b64({ alg: "none", typ: "JWT" })}.${b64({ ...claims, role: "admin", exp: now + 300 })}.`,
    // Key confusion: HS256 "signed" with the public key's PEM.
    hmacWithPublicKey: () => {
      const pem = infra.signingKeys().publicKeys[0].export({ type: "spki", format: "pem" });
      const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ ...claims, exp: now + 300 })}`;
      return `${head}.${createHmac("sha256", pem).update(head).digest("base64url")}`;
    },
    refreshAsAccess: () =>
      jwt.sign({ ...claims, typ: "refresh", exp: now + 300 }, privateKey!, { algorithm: "ES256" }),
  };
}

function expectEnvelope(res: PlatformResponse, status: number, type: string): Envelope["error"] {
  expect(res.status).toBe(status);
  const { error } = res.body as Envelope;
  expect(error).toEqual({
    type,
    message: expect.any(String),
    code: status,
    requestId: res.headers["x-request-id"],
    details: expect.any(Array),
  });
  return error;
}

describe("gateway", () => {
  let platform: Platform;
  let token: ReturnType<typeof tokens>;

  beforeAll(async () => {
    platform = await startPlatform({ services: [GwTestService] });
    token = tokens(platform);
  });
  afterAll(() => platform?.stop());

  describe("routing and the error envelope", () => {
    it("serves actions at the path their `rest` names", async () => {
      const res = await platform.request("GET", "/things?q=lamp&page=2");
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ items: [], page: 2, q: "lamp" });
    });

    it.each([
      ["GET", "/api/v1/nope"],
      ["PUT", "/api/v1/things/open"],
      ["GET", "/api/v1/gwtest/whoami"],
      ["GET", "/api/v1/gwtest.whoami"],
      ["GET", "/api/v1/things/hidden"],
      ["GET", "/api/v1/api/list-aliases"],
      ["GET", "/nope"],
    ])("%s %s → 404 envelope", async (method, path) => {
      const res = await platform.request(method, platform.origin + path);
      const error = expectEnvelope(res, 404, "NOT_FOUND");
      expect(error.message).toBe("Route not found");
    });

    it("400 VALIDATION naming each bad and unknown field ($$strict)", async () => {
      const res = await platform.request("POST", "/things", {
        token: token.valid(),
        body: { name: "x", isAdmin: true },
      });
      const error = expectEnvelope(res, 400, "VALIDATION");
      expect(error.details).toEqual(
        expect.arrayContaining([
          { field: "name", message: expect.stringContaining("name") },
          { field: "isAdmin", message: "Unknown field" },
        ]),
      );
    });

    it("400 for a path parameter of the wrong shape", async () => {
      const res = await platform.request("PATCH", "/things/not-a-uuid", {
        token: token.valid(),
        body: { name: "Lamp" },
      });
      expect(expectEnvelope(res, 400, "VALIDATION").details).toEqual([
        { field: "id", message: expect.any(String) },
      ]);
    });

    it("400 for a body that is not JSON", async () => {
      const res = await platform.request("POST", "/things", {
        token: token.valid(),
        body: '{"name": "Lamp"',
      });
      expect(expectEnvelope(res, 400, "VALIDATION").message).toMatch(/JSON/);
    });

    it("415 for a charset the parser does not know", async () => {
      const res = await platform.request("POST", "/things", {
        token: token.valid(),
        body: '{"name": "Lamp"}',
        headers: { "content-type": "application/json; charset=klingon" },
      });
      expectEnvelope(res, 415, "UNSUPPORTED_MEDIA_TYPE");
    });

    it("413 for a body over BODY_LIMIT", async () => {
      const res = await platform.request("POST", "/things", {
        token: token.valid(),
        body: { name: "x".repeat(150 * 1024) },
      });
      expectEnvelope(res, 413, "PAYLOAD_TOO_LARGE");
    });

    it("accepts JSON and urlencoded bodies and passes the action's status", async () => {
      const json = await platform.request("POST", "/things", {
        token: token.valid(),
        body: { name: "Lamp", qty: 2 },
      });
      expect(json.status).toBe(201);
      expect(json.headers.location).toBe(`/api/v1/things/${THING_ID}`);
      expect(json.body).toEqual({ id: THING_ID, name: "Lamp", qty: 2, owner: "user-1" });
      const form = await platform.request("POST", "/things", {
        token: token.valid(),
        body: "name=Desk&qty=3",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      expect(form.status).toBe(201);
      expect(form.body).toMatchObject({ name: "Desk", qty: 3 });
    });

    it("an AppError keeps its type, code and details", async () => {
      const res = await platform.request("POST", "/things/conflict", { body: {} });
      const error = expectEnvelope(res, 409, "CONFLICT");
      expect(error.message).toBe("Thing already exists");
      expect(error.details).toEqual([{ field: "name", message: "taken" }]);
    });

    it("500 with a generic message: nothing internal leaks; the log has it, with the request id", async () => {
      const logged: { requestId?: string; args: unknown[] }[] = [];
      const logger = platform.broker.getLocalService("api")!.logger;
      const spy = jest.spyOn(logger, "error").mockImplementation((...args: unknown[]) => {
        logged.push({ requestId: currentRequestContext()?.requestId, args });
      });
      try {
        const res = await platform.request("GET", "/things/boom", {
          headers: { "x-request-id": "boom-1" },
        });
        const error = expectEnvelope(res, 500, "INTERNAL");
        expect(error.message).toBe("Internal server error");
        expect(JSON.stringify(res.body)).not.toMatch(/hunter2|ECONNREFUSED|db-primary|at .*\.ts/);
        expect(logged).toEqual([
          {
            requestId: "boom-1",
            args: [expect.stringContaining("/things/boom"), expect.any(Error)],
          },
        ]);
        expect((logged[0].args[1] as Error).message).toContain("ECONNREFUSED");
      } finally {
        spy.mockRestore();
      }
    });
  });

  describe("auth", () => {
    it("public routes take anyone; a valid token still identifies the caller", async () => {
      expect((await platform.request("GET", "/things/open")).body).toMatchObject({ user: null });
      const res = await platform.request("GET", "/things/open", { token: token.valid() });
      expect(res.body).toMatchObject({
        user: { id: "user-1", role: "customer" },
        nested: { user: { id: "user-1", role: "customer" } },
      });
    });

    it("an action without `auth` needs a valid token (secure by default)", async () => {
      const res = await platform.request("GET", "/things/mine", { token: token.valid() });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ user: { id: "user-1", role: "customer" } });
    });

    const bad: [string, (t: ReturnType<typeof tokens>) => Record<string, string>][] = [
      ["no Authorization header", () => ({})],
      ["a garbage token", () => ({ authorization: "Bearer not.a.jwt" })],
      ["another scheme", () => ({ authorization: "Basic dXNlcjpwYXNz" })],
      ["an empty Bearer", () => ({ authorization: "Bearer " })],
      ["alg none", (t) => ({ authorization: `Bearer ${t.algNone()}` })],
      ["an expired token", (t) => ({ authorization: `Bearer ${t.expired()}` })],
      ["a wrong audience", (t) => ({ authorization: `Bearer ${t.wrongAudience()}` })],
      ["a token signed by another key", (t) => ({ authorization: `Bearer ${t.wrongKey()}` })],
      [
        "HS256 signed with the public key",
        (t) => ({ authorization: `Bearer ${t.hmacWithPublicKey()}` }),
      ],
      [
        "a refresh token used as access token",
        (t) => ({ authorization: `Bearer ${t.refreshAsAccess()}` }),
      ],
    ];

    it.each(bad)("401 for %s", async (_name, headers) => {
      for (const path of ["/things/mine", `/things/${THING_ID}`]) {
        const method = path === "/things/mine" ? "GET" : "DELETE";
        const res = await platform.request(method, path, { headers: headers(token) });
        expectEnvelope(res, 401, "UNAUTHORIZED");
        expect(res.headers["www-authenticate"]).toBe("Bearer");
      }
    });

    it("401 comes before validation: anonymous callers learn nothing of the schema", async () => {
      const res = await platform.request("POST", "/things", { body: { nope: 1 } });
      expectEnvelope(res, 401, "UNAUTHORIZED");
    });

    it("403 for a customer on an admin route; 200 for an admin", async () => {
      const customer = await platform.request("DELETE", `/things/${THING_ID}`, {
        token: token.valid("customer"),
      });
      expectEnvelope(customer, 403, "FORBIDDEN");
      const admin = await platform.request("DELETE", `/things/${THING_ID}`, {
        token: token.valid("admin", "admin-1"),
      });
      expect(admin.status).toBe(200);
      expect(admin.body).toEqual({ deleted: THING_ID });
    });
  });

  describe("X-Request-ID", () => {
    it("echoes a sane id and makes it the requestID of the whole call chain", async () => {
      const res = await platform.request("GET", "/things/open", {
        headers: { "x-request-id": "client-42.a:b_c" },
      });
      expect(res.headers["x-request-id"]).toBe("client-42.a:b_c");
      expect(res.body).toMatchObject({
        requestId: "client-42.a:b_c",
        logContextRequestId: "client-42.a:b_c",
        nested: { requestId: "client-42.a:b_c" },
      });
    });

    it("generates one when there is none", async () => {
      const res = await platform.request("GET", "/things/open");
      expect(res.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.body).toMatchObject({ requestId: res.headers["x-request-id"] });
    });

    it.each(["has spaces", "x".repeat(129), "<script>alert(1)</script>", "a;b=c", "caf\u00e9"])(
      "replaces the unsafe id %j",
      async (id) => {
        const res = await platform.request("GET", "/things/open", {
          headers: { "x-request-id": id },
        });
        expect(res.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
        expect(res.body).toMatchObject({ requestId: res.headers["x-request-id"] });
      },
    );

    it("does not take X-Correlation-ID instead", async () => {
      const res = await platform.request("GET", "/things/open", {
        headers: { "x-correlation-id": "spoofed" },
      });
      expect(res.headers["x-request-id"]).not.toBe("spoofed");
    });

    it("is on error responses too, matching the envelope", async () => {
      const res = await platform.request("GET", "/nope", { headers: { "x-request-id": "err-1" } });
      expect(res.headers["x-request-id"]).toBe("err-1");
      expect((res.body as Envelope).error.requestId).toBe("err-1");
    });
  });

  describe("health", () => {
    it.each(["/health", "/api/v1/health"])("%s is liveness", async (path) => {
      const res = await platform.request("GET", platform.origin + path);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: "ok" });
    });

    it.each(["/health/ready", "/api/v1/health/ready"])(
      "%s lists each port's adapter and the routed services",
      async (path) => {
        const res = await platform.request("GET", platform.origin + path);
        expect(res.status).toBe(200);
        const body = res.body as {
          status: string;
          ports: { port: string; adapter: string; ok: boolean }[];
          services: unknown[];
        };
        expect(body.status).toBe("ok");
        expect(body.ports).toEqual(
          expect.arrayContaining([
            { port: "relational", adapter: "sqlite", ok: true },
            { port: "kv", adapter: "memory", ok: true },
            { port: "cache", adapter: "memory", ok: true },
            { port: "queue", adapter: expect.any(String), ok: true },
            { port: "transporter", adapter: "none", ok: true },
          ]),
        );
        expect(body.ports.map((p) => p.port)).toEqual(
          expect.arrayContaining(["relational", "kv", "cache", "queue", "channels", "transporter"]),
        );
        expect(body.services).toEqual([{ name: "gwtest", ok: true }]);
      },
    );
  });

  describe("OpenAPI and docs", () => {
    type Doc = {
      openapi: string;
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };

    it("lists every routed action with converted schemas and security", async () => {
      const res = await platform.request<Doc>("GET", "/openapi.json");
      expect(res.status).toBe(200);
      const { paths } = res.body;
      expect(res.body.openapi).toMatch(/^3\.1/);
      expect(Object.keys(paths)).toEqual(
        expect.arrayContaining([
          "/things",
          "/things/{id}",
          "/things/open",
          "/things/mine",
          "/auth/login",
          "/health",
          "/health/ready",
          "/openapi.json",
        ]),
      );
      expect(Object.keys(paths)).not.toEqual(expect.arrayContaining(["/things/hidden"]));
      expect(JSON.stringify(paths)).not.toMatch(/list-aliases|whoami/);

      expect(paths["/things"].post).toMatchObject({
        operationId: "gwtest.create",
        summary: "Create a thing",
        security: [{ bearerAuth: [] }],
        requestBody: {
          content: {
            "application/json": {
              schema: {
                type: "object",
                properties: {
                  name: { type: "string", minLength: 2, maxLength: 20 },
                  qty: { type: "integer", minimum: 1 },
                },
                required: ["name"],
                additionalProperties: false,
              },
            },
          },
        },
        responses: { "201": expect.any(Object), "401": expect.any(Object) },
      });
      expect(paths["/things"].get).toMatchObject({
        security: [],
        parameters: [
          { name: "q", in: "query", required: false, schema: { type: "string", maxLength: 50 } },
          { name: "page", in: "query", required: false, schema: { type: "integer", minimum: 1 } },
        ],
      });
      expect(paths["/things/{id}"].patch).toMatchObject({
        parameters: [{ name: "id", in: "path", required: true, schema: { format: "uuid" } }],
      });
      expect(paths["/things/{id}"].delete).toMatchObject({
        "x-required-role": "admin",
        responses: { "403": { $ref: "#/components/responses/Forbidden" } },
      });
      expect(paths["/things/mine"].get.security).toEqual([{ bearerAuth: [] }]);
    });

    it("serves the docs page, whose assets load from this server", async () => {
      const page = await platform.request<string>("GET", "/docs");
      expect(page.status).toBe(200);
      expect(page.headers["content-type"]).toMatch(/text\/html/);
      const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
      expect(assets).toEqual(
        expect.arrayContaining([
          "/api/v1/docs/swagger-ui.css",
          "/api/v1/docs/swagger-ui-bundle.js",
          "/api/v1/docs/init.js",
        ]),
      );
      for (const asset of assets) {
        const res = await fetch(platform.origin + asset);
        expect([asset, res.status]).toEqual([asset, 200]);
        await res.arrayBuffer();
      }
      const init = await platform.request<string>("GET", "/docs/init.js");
      expect(init.body).toContain('"/api/v1/openapi.json"');
      // The package's demo page (the Petstore) is not served.
      expect((await platform.request("GET", "/docs/index.html")).status).toBe(404);
    });
  });
});

describe("gateway readiness", () => {
  it("is 503 when a routed service is gone", async () => {
    const platform = await startPlatform({ services: [GwTestService] });
    try {
      const svc = platform.broker.getLocalService("gwtest");
      await platform.broker.destroyService(svc!);
      const res = await platform.request("GET", platform.origin + "/health/ready");
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({
        status: "unavailable",
        services: [{ name: "gwtest", ok: false }],
      });
    } finally {
      await platform.stop();
    }
  });
});

describe("gateway registry changes", () => {
  it("routes and documents actions of a routed service that (re)starts later", async () => {
    const platform = await startPlatform({ services: [GwTestService] });
    try {
      expect((await platform.request("GET", "/things/extra")).status).toBe(404);
      await platform.broker.destroyService(platform.broker.getLocalService("gwtest")!);
      const actions = {
        ...GwTestService.actions,
        extra: {
          rest: "GET /things/extra",
          auth: "public" as const,
          handler: () => ({ extra: 1 }),
        },
      };
      await platform.broker.createService({ ...GwTestService, actions });
      await waitFor(async () => (await platform.request("GET", "/things/extra")).status === 200, {
        timeoutMs: 5000,
        intervalMs: 50,
      });
      const doc = await platform.request<{ paths: Record<string, unknown> }>(
        "GET",
        "/openapi.json",
      );
      expect(doc.body.paths["/things/extra"]).toMatchObject({
        get: { operationId: "gwtest.extra" },
      });
    } finally {
      await platform.stop();
    }
  });
});

describe("gateway CORS", () => {
  const shop = "https://shop.example";

  it("sends no CORS headers when CORS_ORIGINS is unset", async () => {
    const platform = await startPlatform({ services: [GwTestService] });
    try {
      const res = await platform.request("GET", "/things/open", { headers: { origin: shop } });
      expect(res.status).toBe(200);
      expect(res.headers["access-control-allow-origin"]).toBeUndefined();
      // A preflight is answered without headers, and never runs the action it names.
      const preflight = await platform.request("OPTIONS", "/things/conflict", {
        headers: { origin: shop, "access-control-request-method": "POST" },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
    } finally {
      await platform.stop();
    }
  });

  it("allows listed origins exactly, on successes, errors and preflights", async () => {
    const platform = await startPlatform({
      services: [GwTestService],
      env: { CORS_ORIGINS: `${shop}, https://admin.example` },
    });
    try {
      const ok = await platform.request("GET", "/things/open", { headers: { origin: shop } });
      expect(ok.headers["access-control-allow-origin"]).toBe(shop);
      expect(ok.headers["access-control-expose-headers"]).toMatch(/X-Request-ID/);

      const err = await platform.request("GET", "/things/mine", { headers: { origin: shop } });
      expect(err.status).toBe(401);
      expect(err.headers["access-control-allow-origin"]).toBe(shop);

      const other = await platform.request("GET", "/things/open", {
        headers: { origin: "https://evil.example" },
      });
      expect(other.headers["access-control-allow-origin"]).toBeUndefined();
      const otherPreflight = await platform.request("OPTIONS", "/things", {
        headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
      });
      expect(otherPreflight.headers["access-control-allow-origin"]).toBeUndefined();

      const preflight = await platform.request("OPTIONS", "/things", {
        headers: {
          origin: shop,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type",
        },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers["access-control-allow-origin"]).toBe(shop);
      expect(preflight.headers["access-control-allow-methods"]).toMatch(/POST/);
      expect(preflight.headers["access-control-allow-headers"]).toBe("authorization, content-type");
    } finally {
      await platform.stop();
    }
  });

  it("allows any origin with *", async () => {
    const platform = await startPlatform({ services: [GwTestService], env: { CORS_ORIGINS: "*" } });
    try {
      const res = await platform.request("GET", "/things/open", {
        headers: { origin: "https://anywhere.example" },
      });
      expect(res.headers["access-control-allow-origin"]).toBe("*");
    } finally {
      await platform.stop();
    }
  });
});

describe.each(adaptersFor("redis"))("gateway rate limits (%s key-value store)", (adapter) => {
  let platform: Platform;
  let cleanup: () => Promise<void> = async () => undefined;

  async function start(env: Record<string, string> = {}) {
    let serverEnv: Record<string, string> = {};
    if (adapter === "redis") {
      const real = withRealServers("redis");
      serverEnv = real.env;
      cleanup = real.cleanup;
    }
    platform = await startPlatform({
      services: [GwTestService],
      env: { RATE_LIMIT_MAX: "3", AUTH_RATE_LIMIT_MAX: "2", ...serverEnv, ...env },
    });
    expect(infrastructureOf(platform.broker).kv.adapter).toBe(
      adapter === "redis" ? "redis" : "memory",
    );
  }

  afterEach(async () => {
    await platform?.stop();
    await cleanup();
  });

  const open = (headers: Record<string, string> = {}) =>
    platform.request("GET", "/things/open", { headers });

  it("allows RATE_LIMIT_MAX requests per window, then 429 with Retry-After", async () => {
    await start();
    for (const remaining of ["2", "1", "0"]) {
      const res = await open();
      expect(res.status).toBe(200);
      expect(res.headers["ratelimit-limit"]).toBe("3");
      expect(res.headers["ratelimit-remaining"]).toBe(remaining);
      expect(Number(res.headers["ratelimit-reset"])).toBeGreaterThan(0);
    }
    const limited = await open();
    expectEnvelope(limited, 429, "RATE_LIMITED");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect(Number(limited.headers["retry-after"])).toBeLessThanOrEqual(60);
    // Every request under /api/v1 counts, unknown routes and failed auth included.
    expect((await platform.request("GET", "/nope-under-api")).status).toBe(429);
    expect((await platform.request("GET", "/things/mine")).status).toBe(429);
    // The root probes are not limited.
    expect((await platform.request("GET", platform.origin + "/health")).status).toBe(200);
  });

  it("a spoofed X-Forwarded-For from an untrusted client changes nothing", async () => {
    await start();
    for (let i = 1; i <= 3; i++) {
      expect((await open({ "x-forwarded-for": `198.51.100.${i}` })).status).toBe(200);
    }
    const res = await open({ "x-forwarded-for": "198.51.100.99" });
    expect(res.status).toBe(429);
  });

  it("behind a trusted proxy, limits each forwarded client separately", async () => {
    await start({ TRUST_PROXY: "127.0.0.1" });
    const client = (ip: string) => ({ "x-forwarded-for": `203.0.113.250, ${ip}` });
    for (let i = 0; i < 3; i++) {
      const res = await open(client("198.51.100.1"));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ clientIp: "198.51.100.1" });
    }
    expect((await open(client("198.51.100.1"))).status).toBe(429);
    expect((await open(client("198.51.100.2"))).status).toBe(200);
  });

  it("auth routes have their own stricter bucket", async () => {
    await start();
    const login = () => platform.request("POST", "/auth/login", { body: {} });
    expect((await login()).status).toBe(200);
    const second = await login();
    expect(second.status).toBe(200);
    expect(second.headers["ratelimit-limit"]).toBe("2");
    expectEnvelope(await login(), 429, "RATE_LIMITED");
    // The rest of the API still answers.
    expect((await open()).status).toBe(200);
  });

  it("0 disables the limit", async () => {
    await start({ RATE_LIMIT_MAX: "0" });
    for (let i = 0; i < 6; i++) expect((await open()).status).toBe(200);
    expect((await open()).headers["ratelimit-limit"]).toBeUndefined();
  });
});
