import fc from "fast-check";

/**
 * Hostile HTTP requests for every operation of the OpenAPI document, as
 * fast-check arbitraries. Each request mixes values built from the
 * operation's own schemas (so some get past validation and reach the use
 * cases) with generic attacks: wrong types, 100k-character strings,
 * 1,000-deep nesting, `__proto__`/`constructor`/`prototype` keys,
 * NaN/Infinity/negative/huge numbers, unknown fields, invalid JSON, wrong
 * content types and encodings, malformed percent-encoding in paths and
 * queries, forged tokens and odd headers. Path ids are random or real ones
 * the suite made.
 */
export type AuthLevel = "public" | "user" | "admin";
export type Caller = "anonymous" | "customer" | "admin" | "forged";

export interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  anyOf?: JsonSchema[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
}

interface OpenApiOperation {
  parameters?: { name: string; in: string; schema: JsonSchema }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  security?: unknown[];
  "x-required-role"?: string;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
}

export interface FuzzOperation {
  method: string;
  /** As the document writes it, e.g. `/orders/{id}/cancel`. */
  path: string;
  auth: AuthLevel;
  pathParams: string[];
  query: { name: string; schema: JsonSchema }[];
  body?: JsonSchema;
}

/** Every operation of the document, with who may call it. */
export function operationsOf(doc: OpenApiDocument): FuzzOperation[] {
  const out: FuzzOperation[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const params = op.parameters ?? [];
      out.push({
        method: method.toUpperCase(),
        path,
        auth:
          op["x-required-role"] === "admin"
            ? "admin"
            : Array.isArray(op.security) && op.security.length === 0
              ? "public"
              : "user",
        pathParams: params.filter((p) => p.in === "path").map((p) => p.name),
        query: params.filter((p) => p.in === "query"),
        body: op.requestBody?.content["application/json"]?.schema,
      });
    }
  }
  return out;
}

/** Ids and tokens of real objects, so some requests reach them. */
export interface FuzzTargets {
  ids: string[];
  cartTokens: string[];
}

export interface FuzzRequest {
  caller: Caller;
  method: string;
  /** Relative to /api/v1, query string included. */
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** A JSON fragment written as it is: NaN, 1e999, 1,000-deep nesting. */
export class RawJson {
  constructor(readonly text: string) {}
}

/** JSON text of a value, including what JSON.stringify cannot write (NaN, bigints, raw fragments). */
export function toJsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number")
    return Number.isFinite(value) ? JSON.stringify(value) : String(value);
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(",")}]`;
  if (typeof value === "object" && value !== null)
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${toJsonText(v)}`)
      .join(",")}}`;
  return JSON.stringify(value) ?? "null";
}

/** An object with `key` as an own property, even `__proto__`. */
function withOwnKey(target: object, key: string, value: unknown): Record<string, unknown> {
  const copy = { ...target };
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy as Record<string, unknown>;
}

const HUGE = 100_000;
const DEEP = 1_000;
const deepArray = new RawJson(`${"[".repeat(DEEP)}1${"]".repeat(DEEP)}`);
const deepObject = new RawJson(`${'{"a":'.repeat(DEEP)}1${"}".repeat(DEEP)}`);

const CARD_NUMBER = "4111111111111111";
const PROTO_KEYS = ["__proto__", "constructor", "prototype"];

const hostileStrings: string[] = [
  "",
  " ",
  "a".repeat(HUGE),
  "😀".repeat(HUGE / 2),
  "\u0000",
  "\ud800",
  "\u202e\u0000\uffff",
  "'; DROP TABLE users; --",
  '" OR "1"="1',
  "<script>alert(1)</script>",
  "{{constructor.constructor('return process')()}}",
  "${7*7}",
  "../../../../etc/passwd",
  "%00",
  "null",
  "undefined",
  "NaN",
  "-1",
  "1e308",
  ...PROTO_KEYS,
  CARD_NUMBER,
  "4111 1111 1111 1111",
];

const hostileNumbers: unknown[] = [
  -1,
  0,
  1.5,
  -0.0001,
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER,
  2 ** 53 + 2,
  2 ** 31,
  BigInt("123456789012345678901234567890"),
  new RawJson("NaN"),
  new RawJson("Infinity"),
  new RawJson("-Infinity"),
  new RawJson("1e999"),
  new RawJson("-1e999"),
  new RawJson("-0"),
];

const protoPayload = fc.constantFrom(
  { role: "admin", isAdmin: true },
  { polluted: "yes" },
  { prototype: { polluted: "yes" } },
  { toString: "boom", valueOf: 1 },
);

/** An object whose own keys include `__proto__`, `constructor` or `prototype`. */
const protoObject = fc
  .tuple(fc.constantFrom(...PROTO_KEYS), protoPayload)
  .map(([key, payload]) => withOwnKey({}, key, payload));

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...hostileStrings),
  fc.constantFrom(...hostileNumbers),
  fc.constantFrom<unknown>(null, true, false, [], {}, deepArray, deepObject),
  fc.constantFrom(
    new RawJson(`[${"1,".repeat(20_000)}1]`),
    new RawJson(`{${'"k":1,'.repeat(5_000)}"k":2}`),
  ),
  protoObject,
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: "binary", maxLength: 64 }),
);

/** Values that pass (or nearly pass) a schema, so the request reaches the use case. */
function schemaValue(schema: JsonSchema, targets: FuzzTargets): fc.Arbitrary<unknown> {
  if (schema.enum?.length) return fc.constantFrom(...schema.enum);
  if (schema.anyOf?.length) return fc.oneof(...schema.anyOf.map((s) => schemaValue(s, targets)));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "string":
      return stringValue(schema, targets);
    case "integer":
      return fc.integer({
        min: schema.minimum ?? (schema.exclusiveMinimum ?? -1001) + 1,
        max: schema.maximum ?? 1_000_000,
      });
    case "number":
      return fc.double({
        min: schema.minimum ?? -1e6,
        max: schema.maximum ?? 1e6,
        noNaN: true,
        noDefaultInfinity: true,
      });
    case "boolean":
      return fc.boolean();
    case "array":
      return fc.array(schemaValue(schema.items ?? {}, targets), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.max(schema.minItems ?? 0, Math.min(schema.maxItems ?? 3, 3)),
      });
    case "object":
      if (!schema.properties)
        return fc.dictionary(fc.stringMatching(/^[a-z_]{1,12}$/), fc.string({ maxLength: 20 }), {
          maxKeys: 3,
        });
      return fc.record(
        Object.fromEntries(
          Object.entries(schema.properties).map(([k, s]) => [k, schemaValue(s, targets)]),
        ),
        { requiredKeys: schema.required ?? [] },
      );
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function stringValue(schema: JsonSchema, targets: FuzzTargets): fc.Arbitrary<string> {
  if (schema.format === "uuid")
    return fc.oneof(fc.uuid(), fc.constantFrom(...targets.ids.filter(isUuid)));
  if (schema.format === "email") return fc.emailAddress();
  if (schema.format === "uri" || schema.format === "url") return fc.webUrl();
  const maxLength = Math.min(schema.maxLength ?? 40, 40);
  if (schema.pattern)
    return fc
      .stringMatching(new RegExp(schema.pattern))
      .filter((s) => s.length >= (schema.minLength ?? 0) && s.length <= (schema.maxLength ?? 1e9));
  return fc.string({ minLength: Math.min(schema.minLength ?? 0, maxLength), maxLength });
}

/** Percent-encodes; a lone surrogate becomes the (invalid) UTF-8 bytes of U+D800 on purpose. */
function encode(value: string): string {
  return value.replace(/[\s\S]/gu, (ch) =>
    ch.length === 1 && /[\ud800-\udfff]/.test(ch) ? "%ED%A0%80" : encodeURIComponent(ch),
  );
}

const isUuid = (s: string) => /^[0-9a-f-]{36}$/i.test(s);

/** A body built from the schema, then attacked: a field replaced, unknown or prototype keys added. */
function bodyValue(schema: JsonSchema | undefined, targets: FuzzTargets): fc.Arbitrary<unknown> {
  const valid = schema ? schemaValue(schema, targets) : fc.constant({});
  const extraKey = fc.oneof(
    fc.constantFrom(
      ...PROTO_KEYS,
      "role",
      "isAdmin",
      "id",
      "userId",
      "price",
      "unitPrice",
      "total",
      "discount",
      "currency",
      "status",
      "version",
      "$$strict",
    ),
    fc.string({ maxLength: 12 }),
  );
  return fc.oneof(
    { weight: 2, arbitrary: valid },
    {
      weight: 3,
      arbitrary: fc
        .tuple(valid, fc.array(fc.tuple(extraKey, hostileValue), { minLength: 1, maxLength: 3 }))
        .map(([value, extras]) =>
          typeof value === "object" && value !== null && !Array.isArray(value)
            ? extras.reduce((o, [k, v]) => withOwnKey(o, k, v), value)
            : value,
        ),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(valid, fc.nat(), hostileValue).map(([value, pick, hostile]) => {
        if (typeof value !== "object" || value === null || Array.isArray(value)) return hostile;
        const keys = Object.keys(value);
        return keys.length ? withOwnKey(value, keys[pick % keys.length], hostile) : hostile;
      }),
    },
    { weight: 2, arbitrary: hostileValue },
  );
}

/** Bodies that are not the JSON they claim to be. */
const brokenJson = fc.constantFrom(
  "{",
  "[1,2",
  "{'quantity': 1}",
  "nul",
  '"unterminated',
  '{"a":1}garbage',
  "\u0000",
  '{"quantity": NaN}',
  '{"quantity": Infinity}',
  '{"quantity": 1e999999}',
  "\ufeff{}",
  "[".repeat(HUGE),
  `{"a":"${"b".repeat(HUGE)}"}`,
);

/** Form bodies (the API also parses urlencoded) aiming at qs's nesting and prototype rules. */
const formBody = fc.constantFrom(
  "__proto__[polluted]=1&constructor[prototype][polluted]=1",
  "quantity=NaN&productId[]=1&productId[]=2",
  `a${"[b]".repeat(50)}=1`,
  "price[amount]=-1&price[currency]=XXX&total=0",
  `q=${"%".repeat(10)}&x=%E0%A4%A`,
  "email=a%40b.c&password=p&role=admin",
);

const contentTypes = fc.constantFrom(
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=utf-16",
  "application/json; charset=koi8-r",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=----fuzz",
  "application/xml",
  "application/octet-stream",
  "application/json, text/html",
);

type Body = { text: string; contentType?: string; encoding?: string };

function bodyOf(op: FuzzOperation, targets: FuzzTargets): fc.Arbitrary<Body> {
  const json = bodyValue(op.body, targets).map((v) => toJsonText(v));
  return fc.oneof(
    { weight: 12, arbitrary: json.map((text) => ({ text, contentType: "application/json" })) },
    {
      weight: 2,
      arbitrary: brokenJson.map((text) => ({ text, contentType: "application/json" })),
    },
    {
      weight: 1,
      arbitrary: formBody.map((text) => ({
        text,
        contentType: "application/x-www-form-urlencoded",
      })),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        text: json,
        contentType: contentTypes,
        encoding: fc.option(fc.constantFrom("gzip", "deflate", "br", "x-unknown"), {
          nil: undefined,
        }),
      }),
    },
  );
}

/** A path segment: a real id, a random one, or something that is no id at all. */
function pathSegment(targets: FuzzTargets): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...targets.ids).map(encode) },
    { weight: 2, arbitrary: fc.uuid() },
    {
      weight: 3,
      arbitrary: fc
        .constantFrom(...hostileStrings.filter((s) => s.length < 1000), "x".repeat(5000))
        .map(encode),
    },
    // Malformed percent-encoding, sent as it is.
    { weight: 1, arbitrary: fc.constantFrom("%", "%zz", "%E0%A4%A", "%C0%AE%C0%AE", "%2e%2e") },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }).map(encode) },
  );
}

function queryString(op: FuzzOperation, targets: FuzzTargets): fc.Arbitrary<string> {
  const declared = op.query.map(({ name, schema }) =>
    fc.option(
      fc
        .oneof(
          schemaValue(schema, targets).map((v) => (typeof v === "string" ? v : JSON.stringify(v))),
          fc.constantFrom(...hostileStrings.filter((s) => s.length < 1000)),
        )
        .map((v) => `${encode(name)}=${encode(String(v))}`),
      { nil: undefined },
    ),
  );
  const extras = fc.array(
    fc.constantFrom(
      "__proto__[polluted]=1",
      "constructor[prototype][polluted]=1",
      "page=1&page=2",
      "page[]=1",
      "pageSize[$gt]=0",
      `deep${"[a]".repeat(30)}=1`,
      "unknown=1",
      "q=%",
      "q=%E0%A4%A",
      `q=${"a".repeat(10_000)}`,
      `q=${CARD_NUMBER}`,
      "cvc=123",
    ),
    { maxLength: 2 },
  );
  return fc
    .tuple(fc.tuple(...declared), extras)
    .map(([params, more]) => [...params.filter(Boolean), ...more].join("&"))
    .map((qs) => (qs ? `?${qs}` : ""));
}

/** Header values fetch can send (visible ASCII), some hostile. */
const headerValue = fc.oneof(
  fc.constantFrom(
    "",
    "null",
    "__proto__",
    "a".repeat(8_000),
    CARD_NUMBER,
    "../../etc/passwd",
    "' OR 1=1 --",
  ),
  fc.string({ unit: "binary-ascii", maxLength: 64 }).map((s) => s.replace(/[^\x20-\x7e]/g, "")),
);

const forgedAuthorization = fc.constantFrom(
  "Bearer ",
  "Bearer x.y.z",
  "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIn0.",
  "Basic YWRtaW46YWRtaW4=",
  `Bearer ${"a".repeat(5_000)}`,
  "bearer \ttoken",
  "Bearer a.b.c d.e.f",
);

/** One hostile request for the operation; the caller's token is added when it is sent. */
export function fuzzRequest(op: FuzzOperation, targets: FuzzTargets): fc.Arbitrary<FuzzRequest> {
  const segments = fc.tuple(...op.pathParams.map(() => pathSegment(targets)));
  const sendsBody = op.method !== "GET" && op.method !== "HEAD";
  return fc
    .record({
      caller: fc.constantFrom<Caller>("anonymous", "customer", "admin", "forged"),
      // Mostly the operation's method; sometimes another one on its path.
      method: fc.oneof(
        { weight: 9, arbitrary: fc.constant(op.method) },
        { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE") },
      ),
      segments,
      query: queryString(op, targets),
      body: sendsBody ? fc.option(bodyOf(op, targets), { freq: 8 }) : fc.constant(null),
      forged: forgedAuthorization,
      requestId: fc.option(headerValue, { freq: 3 }),
      cartToken: fc.option(
        fc.oneof(fc.constantFrom(...targets.cartTokens), headerValue, fc.uuid()),
        { freq: 3 },
      ),
      idempotencyKey: fc.option(fc.oneof(fc.uuid(), headerValue), { freq: 2 }),
      forwardedFor: fc.option(
        fc.constantFrom("203.0.113.7", "1.1.1.1, 2.2.2.2", "not-an-ip", "::1", "999.1.1.1"),
        { freq: 4 },
      ),
    })
    .map((r) => {
      let i = 0;
      const path = op.path.replace(/\{[^}]+\}/g, () => r.segments[i++]) + r.query;
      const method = r.method;
      const headers: Record<string, string> = {};
      if (r.caller === "forged") headers.authorization = r.forged;
      if (r.requestId !== null) headers["x-request-id"] = r.requestId;
      if (r.cartToken !== null) headers["x-cart-token"] = r.cartToken;
      if (r.idempotencyKey !== null) headers["idempotency-key"] = r.idempotencyKey;
      if (r.forwardedFor !== null) headers["x-forwarded-for"] = r.forwardedFor;
      const body = r.body && method !== "GET" ? r.body : undefined;
      if (body?.contentType) headers["content-type"] = body.contentType;
      if (body?.encoding) headers["content-encoding"] = body.encoding;
      return { caller: r.caller, method, path, headers, body: body?.text };
    });
}

/** A short description of a request for failure messages (long values cut). */
export function describeRequest(req: FuzzRequest): string {
  const cut = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…(${s.length} chars)` : s);
  return JSON.stringify({
    ...req,
    path: cut(req.path),
    headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, cut(v)])),
    body: req.body === undefined ? undefined : cut(req.body),
  });
}
