import { paramsToSchema, parseShorthand, ruleToSchema } from "../../services/api/json-schema";
import { buildOpenApiDocument, JsonSchema, openApiPath } from "../../services/api/openapi";

const schemaOf = (rule: unknown) => ruleToSchema(rule)?.schema;

describe("fastest-validator → JSON Schema", () => {
  it("parses shorthand rules", () => {
    expect(parseShorthand("string|min:3|max:10|optional")).toEqual({
      type: "string",
      min: 3,
      max: 10,
      optional: true,
    });
    expect(parseShorthand("boolean|optional:false")).toEqual({ type: "boolean", optional: false });
    expect(parseShorthand("string[]")).toEqual({ type: "array", items: "string" });
  });

  it("converts strings with bounds, pattern and enum", () => {
    expect(schemaOf({ type: "string", min: 2, max: 50 })).toEqual({
      type: "string",
      minLength: 2,
      maxLength: 50,
    });
    expect(schemaOf({ type: "string", length: 3 })).toEqual({
      type: "string",
      minLength: 3,
      maxLength: 3,
    });
    expect(schemaOf({ type: "string", pattern: /^[A-Z]{3}$/ })).toEqual({
      type: "string",
      pattern: "^[A-Z]{3}$",
    });
    expect(schemaOf({ type: "string", enum: ["a", "b"] })).toEqual({
      type: "string",
      enum: ["a", "b"],
    });
    expect(schemaOf({ type: "string", empty: false })).toEqual({ type: "string", minLength: 1 });
  });

  it("converts string formats", () => {
    expect(schemaOf("email")).toEqual({ type: "string", format: "email" });
    expect(schemaOf({ type: "email", max: 254 })).toEqual({
      type: "string",
      format: "email",
      maxLength: 254,
    });
    expect(schemaOf("uuid")).toEqual({ type: "string", format: "uuid" });
    expect(schemaOf("url")).toEqual({ type: "string", format: "uri" });
    expect(schemaOf({ type: "date", convert: true })).toEqual({
      type: "string",
      format: "date-time",
    });
  });

  it("converts numbers and integers with bounds", () => {
    expect(schemaOf({ type: "number", min: 0, max: 10 })).toEqual({
      type: "number",
      minimum: 0,
      maximum: 10,
    });
    expect(schemaOf({ type: "number", integer: true, positive: true, convert: true })).toEqual({
      type: "integer",
      exclusiveMinimum: 0,
    });
    expect(schemaOf("number|integer|min:1|max:100")).toEqual({
      type: "integer",
      minimum: 1,
      maximum: 100,
    });
  });

  it("converts booleans, enums, equal and any", () => {
    expect(schemaOf("boolean")).toEqual({ type: "boolean" });
    expect(schemaOf({ type: "enum", values: ["card", "cash_on_delivery"] })).toEqual({
      type: "string",
      enum: ["card", "cash_on_delivery"],
    });
    expect(schemaOf({ type: "equal", value: true })).toEqual({ const: true });
    expect(schemaOf("any")).toEqual({});
    expect(schemaOf({ type: "custom", check: () => true })).toEqual({});
  });

  it("converts objects with props, required fields and strict", () => {
    expect(
      schemaOf({
        type: "object",
        strict: true,
        props: { line1: "string", line2: { type: "string", optional: true } },
      }),
    ).toEqual({
      type: "object",
      properties: { line1: { type: "string" }, line2: { type: "string" } },
      required: ["line1"],
      additionalProperties: false,
    });
    expect(schemaOf({ $$type: "object|optional", city: "string" })).toEqual({
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
    });
    expect(ruleToSchema({ $$type: "object|optional", city: "string" })?.optional).toBe(true);
    expect(schemaOf({ type: "record", value: "number" })).toEqual({
      type: "object",
      additionalProperties: { type: "number" },
    });
  });

  it("converts arrays with items and bounds", () => {
    expect(schemaOf({ type: "array", items: "uuid", min: 1, max: 5, unique: true })).toEqual({
      type: "array",
      items: { type: "string", format: "uuid" },
      minItems: 1,
      maxItems: 5,
      uniqueItems: true,
    });
    expect(schemaOf({ type: "array", items: { type: "object", props: { q: "number" } } })).toEqual({
      type: "array",
      items: { type: "object", properties: { q: { type: "number" } }, required: ["q"] },
    });
  });

  it("keeps defaults (which make a field optional), nullable and alternatives", () => {
    expect(ruleToSchema({ type: "number", default: 20 })).toEqual({
      schema: { type: "number", default: 20 },
      optional: true,
    });
    expect(schemaOf({ type: "string", nullable: true })).toEqual({ type: ["string", "null"] });
    expect(schemaOf(["string", "number"])).toEqual({
      anyOf: [{ type: "string" }, { type: "number" }],
    });
    expect(schemaOf({ type: "multi", rules: ["uuid", "email"] })).toEqual({
      anyOf: [
        { type: "string", format: "uuid" },
        { type: "string", format: "email" },
      ],
    });
  });

  it("turns a params schema into an object schema; $$strict forbids extra fields", () => {
    expect(
      paramsToSchema({
        $$strict: true,
        email: "email",
        name: { type: "string", optional: true },
        secret: "forbidden",
      }),
    ).toEqual({
      type: "object",
      properties: { email: { type: "string", format: "email" }, name: { type: "string" } },
      required: ["email"],
      additionalProperties: false,
    });
    expect(paramsToSchema(undefined)).toEqual({ type: "object", properties: {} });
  });
});

describe("openApiPath", () => {
  it("converts :params to {params}", () => {
    expect(openApiPath("/users/me/addresses/:id")).toEqual({
      path: "/users/me/addresses/{id}",
      params: ["id"],
    });
    expect(openApiPath("/orders/:orderId/lines/:lineId")).toEqual({
      path: "/orders/{orderId}/lines/{lineId}",
      params: ["orderId", "lineId"],
    });
  });
});

describe("buildOpenApiDocument", () => {
  const doc = buildOpenApiDocument(
    [
      {
        method: "PATCH",
        path: "/users/me/addresses/:id",
        action: {
          name: "users.updateAddress",
          params: { $$strict: true, id: "uuid", city: { type: "string", min: 1 } },
          openapi: { summary: "Change an address", tags: ["addresses"] },
        },
      },
      {
        method: "GET",
        path: "/products",
        action: {
          name: "catalog.list",
          auth: "public",
          params: { page: { type: "number", integer: true, optional: true, convert: true } },
          openapi: { response: { type: "object", properties: { items: { type: "array" } } } },
        },
      },
      {
        method: "POST",
        path: "/products",
        action: {
          name: "catalog.create",
          auth: "admin",
          params: { $$strict: true, name: "string" },
          openapi: { status: 201, response: { id: "p1", name: "Lamp" } },
        },
      },
    ],
    { title: "Test", version: "1", serverUrl: "/api/v1" },
  );
  const paths = doc.paths as Record<string, Record<string, JsonSchema>>;

  it("is OpenAPI 3.1 served under /api/v1 with bearer auth", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.servers).toEqual([{ url: "/api/v1" }]);
    expect(doc.components).toMatchObject({
      securitySchemes: { bearerAuth: { type: "http", scheme: "bearer" } },
    });
  });

  it("puts path params in the path and the rest in a strict JSON body", () => {
    const op = paths["/users/me/addresses/{id}"].patch;
    expect(op.operationId).toBe("users.updateAddress");
    expect(op.summary).toBe("Change an address");
    expect(op.tags).toEqual(["addresses"]);
    expect(op.parameters).toEqual([
      { name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } },
    ]);
    expect(op.requestBody).toEqual({
      required: true,
      content: {
        "application/json": {
          schema: {
            type: "object",
            properties: { city: { type: "string", minLength: 1 } },
            required: ["city"],
            additionalProperties: false,
          },
        },
      },
    });
    expect(op.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(op.responses as object).sort()).toEqual(
      ["200", "400", "401", "404", "429", "500"].sort(),
    );
  });

  it("puts GET params in the query; public routes need no token", () => {
    const op = paths["/products"].get;
    expect(op.parameters).toEqual([
      { name: "page", in: "query", required: false, schema: { type: "integer" } },
    ]);
    expect(op.security).toEqual([]);
    expect(op.tags).toEqual(["catalog"]);
    expect((op.responses as Record<string, JsonSchema>)["401"]).toBeUndefined();
    expect((op.responses as Record<string, JsonSchema>)["200"]).toEqual({
      description: "OK",
      content: {
        "application/json": {
          schema: { type: "object", properties: { items: { type: "array" } } },
        },
      },
    });
  });

  it("marks admin routes, their success status and example, and the error envelope", () => {
    const op = paths["/products"].post;
    const responses = op.responses as Record<string, JsonSchema>;
    expect(op["x-required-role"]).toBe("admin");
    expect(responses["201"]).toEqual({
      description: "Created",
      content: { "application/json": { example: { id: "p1", name: "Lamp" } } },
    });
    expect(responses["403"]).toEqual({ $ref: "#/components/responses/Forbidden" });
    const forbidden = (doc.components as { responses: Record<string, JsonSchema> }).responses
      .Forbidden;
    expect(forbidden.content).toEqual({
      "application/json": { schema: { $ref: "#/components/schemas/ErrorEnvelope" } },
    });
  });
});
