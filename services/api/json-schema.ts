/**
 * fastest-validator rules (the `params` of actions) as JSON Schema (2020-12,
 * the dialect of OpenAPI 3.1), for the generated API document. What a
 * client cannot be told (custom checks, functions) becomes `{}`.
 */
export type JsonSchema = Record<string, unknown>;

type RuleObject = Record<string, unknown> & { type?: string };

/** A rule converted: its schema, whether it may be left out, null for `forbidden`. */
interface Converted {
  schema: JsonSchema;
  optional: boolean;
}

const STRING_FORMATS: Record<string, JsonSchema> = {
  email: { type: "string", format: "email" },
  uuid: { type: "string", format: "uuid" },
  url: { type: "string", format: "uri" },
  date: { type: "string", format: "date-time" },
  objectID: { type: "string", pattern: "^[0-9a-fA-F]{24}$" },
  mac: { type: "string" },
  luhn: { type: "string" },
  currency: { type: "string" },
};

/** fastest-validator shorthand (`"string|min:3|optional"`) as a rule object. */
export function parseShorthand(rule: string): RuleObject {
  const [type, ...flags] = rule.split("|").map((s) => s.trim());
  if (type.endsWith("[]")) return { type: "array", items: type.slice(0, -2) };
  const out: RuleObject = { type };
  for (const flag of flags) {
    const [key, ...rest] = flag.split(":");
    const raw = rest.join(":");
    if (!rest.length) out[key] = true;
    else if (raw === "true" || raw === "false") out[key] = raw === "true";
    else if (raw !== "" && !Number.isNaN(Number(raw))) out[key] = Number(raw);
    else out[key] = raw;
  }
  return out;
}

/** One fastest-validator rule as JSON Schema; null for a `forbidden` field. */
export function ruleToSchema(rule: unknown): Converted | null {
  if (Array.isArray(rule)) {
    const options = rule.map(ruleToSchema).filter((c): c is Converted => c !== null);
    return {
      schema: { anyOf: options.map((o) => o.schema) },
      optional: options.some((o) => o.optional),
    };
  }
  const r: RuleObject =
    typeof rule === "string"
      ? parseShorthand(rule)
      : typeof rule === "object" && rule !== null
        ? objectRule(rule as Record<string, unknown>)
        : {};
  if (r.type === "forbidden") return null;
  const schema = typeSchema(r);
  if (r.default !== undefined && typeof r.default !== "function") schema.default = r.default;
  if (typeof r.description === "string") schema.description = r.description;
  if (r.nullable === true && typeof schema.type === "string") schema.type = [schema.type, "null"];
  return { schema, optional: r.optional === true || r.default !== undefined };
}

/** A `params` object (with `$$strict` and friends) as an object schema. */
export function paramsToSchema(params: Record<string, unknown> | undefined): JsonSchema {
  const props = Object.fromEntries(
    Object.entries(params ?? {}).filter(([key]) => !key.startsWith("$$")),
  );
  const schema = objectSchema(props);
  if (params?.$$strict === true) schema.additionalProperties = false;
  return schema;
}

// `{ $$type: "object|optional", street: "string" }` is an object rule in shorthand.
function objectRule(rule: Record<string, unknown>): RuleObject {
  if (typeof rule.$$type !== "string") return rule as RuleObject;
  const { $$type, ...props } = rule;
  return { ...parseShorthand($$type as string), props };
}

function objectSchema(props: Record<string, unknown>): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [key, rule] of Object.entries(props)) {
    const converted = ruleToSchema(rule);
    if (!converted) continue;
    properties[key] = converted.schema;
    if (!converted.optional) required.push(key);
  }
  return { type: "object", properties, ...(required.length ? { required } : {}) };
}

function typeSchema(r: RuleObject): JsonSchema {
  const type = r.type ?? "any";
  if (STRING_FORMATS[type]) return { ...STRING_FORMATS[type], ...lengths(r, "Length") };
  switch (type) {
    case "string": {
      const s: JsonSchema = { type: "string", ...lengths(r, "Length") };
      if (r.pattern instanceof RegExp) s.pattern = r.pattern.source;
      else if (typeof r.pattern === "string") s.pattern = r.pattern;
      if (Array.isArray(r.enum)) s.enum = r.enum;
      if (r.empty === false && s.minLength === undefined) s.minLength = 1;
      return s;
    }
    case "number": {
      const s: JsonSchema = { type: r.integer === true ? "integer" : "number" };
      if (typeof r.min === "number") s.minimum = r.min;
      if (typeof r.max === "number") s.maximum = r.max;
      if (r.positive === true) s.exclusiveMinimum = 0;
      if (r.negative === true) s.exclusiveMaximum = 0;
      if (typeof r.equal === "number") s.const = r.equal;
      return s;
    }
    case "boolean":
      return { type: "boolean" };
    case "enum":
      return enumSchema(Array.isArray(r.values) ? r.values : []);
    case "equal":
      return { const: r.value };
    case "object": {
      const props = (r.props ?? r.properties) as Record<string, unknown> | undefined;
      const s = props ? objectSchema(props) : { type: "object" };
      if (r.strict === true) s.additionalProperties = false;
      return s;
    }
    case "record":
      return { type: "object", additionalProperties: ruleToSchema(r.value)?.schema ?? {} };
    case "array": {
      const s: JsonSchema = { type: "array", ...lengths(r, "Items") };
      if (r.items !== undefined) s.items = ruleToSchema(r.items)?.schema ?? {};
      if (Array.isArray(r.enum)) s.items = enumSchema(r.enum);
      if (r.unique === true) s.uniqueItems = true;
      return s;
    }
    case "tuple": {
      const items = Array.isArray(r.items) ? r.items : [];
      const prefixItems = items.map((i) => ruleToSchema(i)?.schema ?? {});
      return { type: "array", prefixItems, minItems: items.length, maxItems: items.length };
    }
    case "multi":
      return ruleToSchema(Array.isArray(r.rules) ? r.rules : [])?.schema ?? {};
    default:
      // any, custom, function, class...: nothing a client can be told.
      return {};
  }
}

function lengths(r: RuleObject, suffix: "Length" | "Items"): JsonSchema {
  const out: JsonSchema = {};
  if (typeof r.length === "number")
    return { [`min${suffix}`]: r.length, [`max${suffix}`]: r.length };
  if (typeof r.min === "number") out[`min${suffix}`] = r.min;
  if (typeof r.max === "number") out[`max${suffix}`] = r.max;
  return out;
}

function enumSchema(values: unknown[]): JsonSchema {
  const types = new Set(values.map((v) => typeof v));
  const only = types.size === 1 ? [...types][0] : undefined;
  return only === "string" || only === "number" || only === "boolean"
    ? { type: only, enum: values }
    : { enum: values };
}
