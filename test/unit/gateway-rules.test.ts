import { Errors } from "moleculer";
import { AppError } from "../../lib/errors";
import { authLevelOf, authorize, bearerToken } from "../../services/api/auth";
import { corsHeaders } from "../../services/api/cors";
import { toErrorResponse, validationDetails } from "../../services/api/error-envelope";
import { bucketFor, rateLimitHeaders } from "../../services/api/rate-limit";
import { requestIdFrom } from "../../services/api/request-id";

/** The gateway's plain rules; the e2e suite checks them again through real HTTP. */
describe("error envelope", () => {
  const envelope = (err: unknown) => toErrorResponse(err, "req-1");

  it("keeps an AppError's type, message and details", () => {
    const res = envelope(AppError.conflict("Email taken", [{ field: "email", message: "taken" }]));
    expect(res.status).toBe(409);
    expect(res.body).toEqual({
      error: {
        type: "CONFLICT",
        message: "Email taken",
        code: 409,
        requestId: "req-1",
        details: [{ field: "email", message: "taken" }],
      },
    });
    expect(res.unexpected).toBe(false);
  });

  it("recognises an AppError rebuilt from another node (a plain Error with its fields)", () => {
    const remote = Object.assign(new Error("Order not found"), {
      name: "AppError",
      code: 404,
      type: "NOT_FOUND",
      data: { details: [] },
    });
    expect(envelope(remote).body.error).toMatchObject({ type: "NOT_FOUND", code: 404 });
  });

  it("sends Retry-After for RATE_LIMITED and WWW-Authenticate for 401", () => {
    expect(envelope(AppError.rateLimited(7)).headers).toEqual({ "Retry-After": "7" });
    expect(envelope(AppError.unauthorized()).headers).toEqual({ "WWW-Authenticate": "Bearer" });
  });

  it("maps validator errors to 400 VALIDATION naming each field", () => {
    const err = new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [
      { type: "stringMin", field: "name", message: "The 'name' field is too short.", actual: "a" },
      { type: "objectStrict", message: "forbidden keys", actual: "isAdmin, role" },
    ]);
    const res = envelope(err);
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe("VALIDATION");
    expect(res.body.error.details).toEqual([
      { field: "name", message: "The 'name' field is too short." },
      { field: "isAdmin", message: "Unknown field" },
      { field: "role", message: "Unknown field" },
    ]);
  });

  it("names nested forbidden keys by their path", () => {
    expect(
      validationDetails([{ type: "objectStrict", field: "address", actual: "admin" }]),
    ).toEqual([{ field: "address.admin", message: "Unknown field" }]);
  });

  it.each([
    [{ name: "NotFoundError", code: 404, type: "NOT_FOUND" }, 404, "NOT_FOUND"],
    [
      { name: "PayloadTooLargeError", code: 413, type: "entity.too.large" },
      413,
      "PAYLOAD_TOO_LARGE",
    ],
    [{ name: "MoleculerError", code: 400, type: "entity.parse.failed" }, 400, "VALIDATION"],
    [
      { name: "MoleculerError", code: 415, type: "charset.unsupported" },
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    ],
    [{ name: "ServiceNotFoundError", code: 404, type: "SERVICE_NOT_FOUND" }, 503, "UNAVAILABLE"],
    [{ name: "RequestTimeoutError", code: 504, type: "REQUEST_TIMEOUT" }, 503, "UNAVAILABLE"],
    [{ name: "EntityNotFoundError", code: 404 }, 404, "NOT_FOUND"],
    [{ name: "MoleculerClientError", code: 405 }, 400, "BAD_REQUEST"],
  ])("maps %o to %i %s", (err, status, type) => {
    const res = envelope(Object.assign(new Error("x"), err));
    expect([res.status, res.body.error.type]).toEqual([status, type]);
  });

  it("hides unexpected errors behind a generic 500", () => {
    for (const err of [
      new TypeError("Cannot read properties of undefined (reading 'sequelize')"),
      new Errors.MoleculerServerError("db password wrong", 500, "DB"),
      "a string",
      undefined,
      new AppError("INTERNAL", "pool exhausted on db-3"),
    ]) {
      const res = envelope(err);
      expect(res.status).toBe(500);
      expect(res.body.error.message).toBe("Internal server error");
    }
    expect(envelope(new TypeError("boom")).unexpected).toBe(true);
  });
});

describe("request id", () => {
  it("echoes a sane id", () => {
    expect(requestIdFrom("abc-123_x.y:z")).toBe("abc-123_x.y:z");
  });
  it.each(["", "a b", "x".repeat(129), "id\nInjected: 1", "<script>", "ünï"])(
    "replaces %j with a uuid",
    (raw) => {
      expect(requestIdFrom(raw)).toMatch(/^[0-9a-f-]{36}$/);
    },
  );
  it("generates one when absent", () => {
    expect(requestIdFrom(undefined)).not.toBe(requestIdFrom(undefined));
  });
});

describe("auth", () => {
  const verify = (token: string) =>
    token === "good-admin"
      ? ({ sub: "u1", role: "admin" } as const)
      : token === "good-customer"
        ? ({ sub: "u2", role: "customer" } as const)
        : null;

  it("is secure by default", () => {
    expect(authLevelOf({})).toBe("user");
    expect(authLevelOf(undefined)).toBe("user");
    expect(authLevelOf({ auth: "nonsense" })).toBe("user");
    expect(authLevelOf({ auth: "public" })).toBe("public");
  });

  it("parses only well-formed Bearer headers", () => {
    expect(bearerToken("Bearer abc.def.ghi")).toBe("abc.def.ghi");
    expect(bearerToken("bearer abc")).toBe("abc");
    expect(bearerToken("Basic dXNlcjpwYXNz")).toBeNull();
    expect(bearerToken("Bearer")).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });

  it("applies the levels", () => {
    expect(authorize("public", undefined, verify)).toBeUndefined();
    expect(authorize("public", "Bearer junk", verify)).toBeUndefined();
    expect(authorize("public", "Bearer good-customer", verify)).toEqual({
      id: "u2",
      role: "customer",
    });
    expect(() => authorize("user", undefined, verify)).toThrow(
      expect.objectContaining({ code: 401 }),
    );
    expect(() => authorize("user", "Bearer junk", verify)).toThrow(
      expect.objectContaining({ code: 401 }),
    );
    expect(() => authorize("admin", undefined, verify)).toThrow(
      expect.objectContaining({ code: 401 }),
    );
    expect(() => authorize("admin", "Bearer good-customer", verify)).toThrow(
      expect.objectContaining({ code: 403 }),
    );
    expect(authorize("admin", "Bearer good-admin", verify)).toEqual({ id: "u1", role: "admin" });
  });

  it("treats a verifier that throws as a bad token, not a 500", () => {
    const throwing = () => {
      throw new Error("bad key");
    };
    expect(() => authorize("user", "Bearer x", throwing)).toThrow(
      expect.objectContaining({ code: 401 }),
    );
  });
});

describe("cors", () => {
  it("sends nothing when unconfigured or for other origins", () => {
    expect(corsHeaders([], "https://shop.example")).toEqual({});
    expect(corsHeaders(["https://shop.example"], "https://evil.example")).toEqual({});
    expect(corsHeaders(["https://shop.example"], "https://shop.example.evil")).toEqual({});
    expect(corsHeaders(["https://shop.example"], undefined)).toEqual({});
  });

  it("allows exact origins and *", () => {
    expect(corsHeaders(["https://shop.example"], "https://shop.example")).toMatchObject({
      "Access-Control-Allow-Origin": "https://shop.example",
      Vary: "Origin",
    });
    expect(corsHeaders(["*"], "https://any.example")).toMatchObject({
      "Access-Control-Allow-Origin": "*",
    });
  });

  it("answers preflights with methods and the requested headers", () => {
    expect(
      corsHeaders(["*"], "https://a.example", { requestHeaders: "authorization,content-type" }),
    ).toMatchObject({
      "Access-Control-Allow-Methods": expect.stringContaining("PATCH"),
      "Access-Control-Allow-Headers": "authorization,content-type",
    });
  });
});

describe("rate-limit buckets", () => {
  const policy = { windowMs: 60_000, max: 100, authMax: 10 };

  it("counts auth routes in their own stricter bucket, case-insensitively", () => {
    expect(bucketFor("/api/v1/auth/login", "/api/v1", policy)).toEqual({ name: "auth", max: 10 });
    expect(bucketFor("/API/V1/AUTH/login", "/api/v1", policy)).toEqual({ name: "auth", max: 10 });
    expect(bucketFor("/api/v1/authors", "/api/v1", policy)).toEqual({ name: "api", max: 100 });
    expect(bucketFor("/api/v1/products", "/api/v1", policy)).toEqual({ name: "api", max: 100 });
  });

  it("is disabled by 0", () => {
    expect(bucketFor("/api/v1/products", "/api/v1", { ...policy, max: 0 })).toBeNull();
    expect(bucketFor("/api/v1/auth/login", "/api/v1", { ...policy, authMax: 0 })).toBeNull();
  });

  it("reports limit, remaining and reset in seconds", () => {
    expect(rateLimitHeaders(10, 3, 1500)).toEqual({
      "RateLimit-Limit": "10",
      "RateLimit-Remaining": "7",
      "RateLimit-Reset": "2",
    });
    expect(rateLimitHeaders(10, 12, 10)["RateLimit-Remaining"]).toBe("0");
  });
});
