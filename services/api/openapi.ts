import { authLevelOf } from "./auth";
import { JsonSchema, paramsToSchema } from "./json-schema";
import type { ActionOpenApi } from "../../lib/openapi-meta";

export type { JsonSchema };

/**
 * OpenAPI 3.1 document generated from the routes the gateway actually serves:
 * every action with `rest`, its fastest-validator `params` converted to JSON
 * Schema, its `auth` as security and its `openapi` property as the prose.
 * Plain functions; the service feeds them its aliases and the registry.
 */
export interface ActionDoc {
  name: string;
  params?: Record<string, unknown>;
  auth?: unknown;
  openapi?: ActionOpenApi;
}

export interface RouteDoc {
  /** HTTP method, or "*" for an alias that takes any. */
  method: string;
  /** Path relative to the server URL, in moleculer-web syntax (`/users/me/addresses/:id`). */
  path: string;
  action: ActionDoc;
}

export interface DocumentInfo {
  title: string;
  version: string;
  serverUrl: string;
}

/** `/users/me/addresses/:id` → `/users/me/addresses/{id}` with its parameter names. */
export function openApiPath(path: string): { path: string; params: string[] } {
  const params: string[] = [];
  const converted = path.replace(/:([A-Za-z_$][\w$]*)/g, (_m, name: string) => {
    params.push(name);
    return `{${name}}`;
  });
  return { path: converted, params };
}

const BODY_METHODS = new Set(["post", "put", "patch"]);
const ALL_METHODS = ["get", "post", "put", "patch", "delete"];
const JSON_SCHEMA_TYPES = new Set([
  "object",
  "array",
  "string",
  "number",
  "integer",
  "boolean",
  "null",
]);
const ERROR_REF = { $ref: "#/components/schemas/ErrorEnvelope" };

function errorResponse(description: string, headers?: JsonSchema): JsonSchema {
  return {
    description,
    ...(headers ? { headers } : {}),
    content: { "application/json": { schema: ERROR_REF } },
  };
}

export function buildOpenApiDocument(routes: RouteDoc[], info: DocumentInfo): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  const seenIds = new Map<string, number>();
  const sorted = [...routes].sort(
    (a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method),
  );
  for (const route of sorted) {
    const { path, params } = openApiPath(route.path);
    const methods = route.method === "*" ? ALL_METHODS : [route.method.toLowerCase()];
    for (const method of methods) {
      const n = (seenIds.get(route.action.name) ?? 0) + 1;
      seenIds.set(route.action.name, n);
      const operationId = n === 1 ? route.action.name : `${route.action.name}_${n}`;
      paths[path] ??= {};
      paths[path][method] = operation(route.action, method, params, operationId);
    }
  }
  return {
    openapi: "3.1.0",
    info: { title: info.title, version: info.version },
    servers: [{ url: info.serverUrl }],
    security: [{ bearerAuth: [] }],
    paths,
    components: components(),
  };
}

function operation(action: ActionDoc, method: string, pathParams: string[], operationId: string) {
  const level = authLevelOf(action);
  const doc = action.openapi ?? {};
  const params = paramsToSchema(action.params);
  const props = { ...(params.properties as Record<string, JsonSchema>) };
  const required = new Set((params.required as string[] | undefined) ?? []);

  const parameters: JsonSchema[] = pathParams.map((name) => {
    const schema = props[name] ?? { type: "string" };
    delete props[name];
    return { name, in: "path", required: true, schema };
  });
  let requestBody: JsonSchema | undefined;
  const fields = Object.keys(props);
  if (BODY_METHODS.has(method)) {
    if (fields.length || params.additionalProperties === false) {
      const bodyRequired = fields.filter((f) => required.has(f));
      const schema: JsonSchema = { type: "object", properties: props };
      if (bodyRequired.length) schema.required = bodyRequired;
      if (params.additionalProperties === false) schema.additionalProperties = false;
      requestBody = {
        required: bodyRequired.length > 0,
        content: { "application/json": { schema } },
      };
    }
  } else {
    for (const name of fields)
      parameters.push({ name, in: "query", required: required.has(name), schema: props[name] });
  }

  const status = String(doc.status ?? 200);
  const responses: Record<string, JsonSchema> = { [status]: successResponse(status, doc.response) };
  if (action.params) responses["400"] = { $ref: "#/components/responses/BadRequest" };
  if (level !== "public") responses["401"] = { $ref: "#/components/responses/Unauthorized" };
  if (level === "admin") responses["403"] = { $ref: "#/components/responses/Forbidden" };
  if (pathParams.length) responses["404"] = { $ref: "#/components/responses/NotFound" };
  responses["429"] = { $ref: "#/components/responses/TooManyRequests" };
  responses["500"] = { $ref: "#/components/responses/InternalError" };

  const service = action.name.slice(0, Math.max(0, action.name.lastIndexOf("."))) || action.name;
  const description = [doc.description, level === "admin" ? "Requires the admin role." : undefined]
    .filter(Boolean)
    .join("\n\n");
  return {
    operationId,
    tags: doc.tags ?? [service],
    ...(doc.summary ? { summary: doc.summary } : {}),
    ...(description ? { description } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(requestBody ? { requestBody } : {}),
    responses,
    security: level === "public" ? [] : [{ bearerAuth: [] }],
    ...(level === "admin" ? { "x-required-role": "admin" } : {}),
  };
}

function successResponse(
  status: string,
  response: Record<string, unknown> | undefined,
): JsonSchema {
  const description = status === "201" ? "Created" : status === "204" ? "No content" : "OK";
  if (status === "204" || !response) return { description };
  // `openapi.response` is either a JSON schema or an example body.
  const isSchema =
    "$ref" in response ||
    "properties" in response ||
    "items" in response ||
    "oneOf" in response ||
    "anyOf" in response ||
    (typeof response.type === "string" && JSON_SCHEMA_TYPES.has(response.type));
  const media = isSchema ? { schema: response } : { example: response };
  return { description, content: { "application/json": media } };
}

function components(): JsonSchema {
  return {
    securitySchemes: {
      bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
    },
    schemas: {
      ErrorEnvelope: {
        type: "object",
        required: ["error"],
        properties: {
          error: {
            type: "object",
            required: ["type", "message", "code", "requestId", "details"],
            properties: {
              type: { type: "string", examples: ["VALIDATION", "NOT_FOUND"] },
              message: { type: "string" },
              code: { type: "integer", description: "The HTTP status." },
              requestId: { type: "string", description: "Echoes the X-Request-ID header." },
              details: {
                type: "array",
                items: {
                  type: "object",
                  required: ["message"],
                  properties: { field: { type: "string" }, message: { type: "string" } },
                },
              },
            },
          },
        },
      },
    },
    responses: {
      BadRequest: errorResponse("Invalid request (type VALIDATION, details name the fields)"),
      Unauthorized: errorResponse("Missing, invalid or expired access token"),
      Forbidden: errorResponse("The caller's role may not do this"),
      NotFound: errorResponse("No such resource"),
      TooManyRequests: errorResponse("Rate limit exceeded", {
        "Retry-After": { description: "Seconds to wait", schema: { type: "integer" } },
      }),
      InternalError: errorResponse("Unexpected error (the message is generic; see requestId)"),
    },
  };
}
