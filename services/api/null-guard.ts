import { AppError, ErrorDetail } from "../../lib/errors";

/**
 * fastest-validator lets `null` through for every `optional` field, whatever
 * its type: `PATCH /users/me {"name": null}` reached the use case, which
 * failed on it (a 500). A field takes `null` only when its rule says
 * `nullable: true` (a phone number or a parent category that can be
 * cleared); for any other optional field, this refuses the request with a
 * 400 naming the field. Walks the action's schema and the params together, into nested
 * objects and arrays of objects.
 */
interface Rule {
  type?: string;
  optional?: boolean;
  nullable?: boolean;
  props?: Record<string, unknown>;
  items?: unknown;
}

export function assertNullsAllowed(schema: unknown, params: unknown): void {
  const details: ErrorDetail[] = [];
  collect(schema, params, "", details);
  if (details.length) throw AppError.validation("Request validation failed", details);
}

function collect(schema: unknown, value: unknown, path: string, out: ErrorDetail[]): void {
  if (!isObject(schema) || !isObject(value)) return;
  for (const [key, raw] of Object.entries(schema)) {
    if (key.startsWith("$$") || !isObject(raw) || !Object.hasOwn(value, key)) continue;
    checkValue(raw as Rule, value[key], path ? `${path}.${key}` : key, out);
  }
}

function checkValue(rule: Rule, value: unknown, field: string, out: ErrorDetail[]): void {
  if (value === null) {
    // A required field's null is the validator's to report ("required"), as before.
    if (rule.optional === true && rule.nullable !== true)
      out.push({ field, message: `${field} must not be null` });
    return;
  }
  if (rule.type === "object" && rule.props) collect(rule.props, value, field, out);
  if (rule.type === "array" && isObject(rule.items) && Array.isArray(value))
    value.forEach((item, i) => checkValue(rule.items as Rule, item, `${field}[${i}]`, out));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}
