import { ERROR_TYPES, ErrorDetail, ErrorType } from "../../lib/errors";

/**
 * Maps anything thrown while serving a request to the REST error envelope
 * (ARCHITECTURE §11). AppError keeps its type, message and details. Client
 * errors from Moleculer and moleculer-web get a type from the closed set and a
 * message of ours. Anything else is a 500 with a generic message: internal
 * messages and stacks stay in the log.
 *
 * Errors are matched by name, code and type rather than by class, because an
 * error from another node is rebuilt as a plain Error carrying those fields.
 */
export type EnvelopeType =
  | ErrorType
  | "UNSUPPORTED_MEDIA_TYPE"
  | "BAD_REQUEST"
  // Refused by Node's HTTP parser (client-error.ts).
  | "HEADERS_TOO_LARGE"
  | "REQUEST_TIMEOUT";

export interface ErrorEnvelope {
  error: {
    type: EnvelopeType;
    message: string;
    code: number;
    requestId: string;
    details: ErrorDetail[];
  };
}

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: ErrorEnvelope;
  /** True for errors nobody anticipated: log them with their stack. */
  unexpected: boolean;
}

interface ErrorLike {
  name?: string;
  message?: string;
  code?: unknown;
  type?: unknown;
  data?: unknown;
}

const GENERIC_500 = "Internal server error";
const UNAVAILABLE = "Service temporarily unavailable, try again later";
/** Moleculer's own "cannot reach / too busy" errors, whatever their code. */
const UNAVAILABLE_NAMES = new Set([
  "ServiceNotFoundError",
  "ServiceNotAvailableError",
  "RequestTimeoutError",
  "QueueIsFullError",
  "ServiceUnavailableError",
  "BrokerDisconnectedError",
]);
const TYPE_BY_STATUS = new Map<number, ErrorType>(
  (Object.entries(ERROR_TYPES) as [ErrorType, number][]).map(([type, code]) => [code, type]),
);

export function toErrorResponse(thrown: unknown, requestId: string): ErrorResponse {
  const err: ErrorLike = typeof thrown === "object" && thrown !== null ? thrown : {};
  const mapped = classify(err);
  const headers: Record<string, string> = {};
  if (mapped.status === 401) headers["WWW-Authenticate"] = "Bearer";
  const retryAfter = (err.data as { retryAfter?: unknown } | undefined)?.retryAfter;
  if (mapped.status === 429 && typeof retryAfter === "number")
    headers["Retry-After"] = String(Math.max(1, Math.ceil(retryAfter)));
  return {
    status: mapped.status,
    headers,
    unexpected: mapped.unexpected ?? false,
    body: {
      error: {
        type: mapped.type,
        message: mapped.message,
        code: mapped.status,
        requestId,
        details: mapped.details ?? [],
      },
    },
  };
}

interface Classified {
  status: number;
  type: EnvelopeType;
  message: string;
  details?: ErrorDetail[];
  unexpected?: boolean;
}

function classify(err: ErrorLike): Classified {
  const code = typeof err.code === "number" ? err.code : undefined;
  const message = typeof err.message === "string" && err.message ? err.message : undefined;

  if (err.name === "AppError" && typeof err.type === "string" && err.type in ERROR_TYPES) {
    const type = err.type as ErrorType;
    const details = (err.data as { details?: unknown } | undefined)?.details;
    return {
      status: ERROR_TYPES[type],
      type,
      // INTERNAL is the one AppError whose message may describe our side of things.
      message: type === "INTERNAL" ? GENERIC_500 : (message ?? type),
      details: Array.isArray(details) ? (details as ErrorDetail[]) : [],
    };
  }
  if (err.name === "ValidationError" && Array.isArray(err.data)) {
    return {
      status: 400,
      type: "VALIDATION",
      message: "Request validation failed",
      details: validationDetails(err.data),
    };
  }
  if (err.name !== undefined && UNAVAILABLE_NAMES.has(err.name))
    return { status: 503, type: "UNAVAILABLE", message: UNAVAILABLE };
  // moleculer-web: no route matched.
  if (err.name === "NotFoundError" && code === 404)
    return { status: 404, type: "NOT_FOUND", message: "Route not found" };

  // body-parser errors arrive with the HTTP status as code and their own `type`.
  if (code === 413)
    return { status: 413, type: "PAYLOAD_TOO_LARGE", message: "Request body is too large" };
  if (code === 415)
    return {
      status: 415,
      type: "UNSUPPORTED_MEDIA_TYPE",
      message: "Unsupported content type, charset or encoding",
    };
  if (code === 400 && err.type === "entity.parse.failed")
    return { status: 400, type: "VALIDATION", message: "Request body is not valid JSON" };
  if (code === 503 || code === 504)
    return { status: 503, type: "UNAVAILABLE", message: UNAVAILABLE };

  // Other client errors (MoleculerClientError and friends) are written for the client.
  if (code !== undefined && code >= 400 && code < 500) {
    const type = TYPE_BY_STATUS.get(code);
    return type
      ? { status: code, type, message: message ?? type }
      : { status: 400, type: "BAD_REQUEST", message: message ?? "Bad request" };
  }
  return { status: 500, type: "INTERNAL", message: GENERIC_500, unexpected: true };
}

interface ValidatorError {
  type?: string;
  field?: string;
  message?: string;
  actual?: unknown;
}

/**
 * fastest-validator errors as `{field, message}`. `$$strict` reports every
 * forbidden key in one error on the parent object; each key becomes a detail
 * naming the field, so clients see which field to drop.
 */
export function validationDetails(errors: unknown[]): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  for (const raw of errors) {
    const e = (typeof raw === "object" && raw !== null ? raw : {}) as ValidatorError;
    if (e.type === "objectStrict" && typeof e.actual === "string") {
      for (const key of e.actual
        .split(",")
        .map((k) => k.trim())
        .filter(Boolean)) {
        out.push({ field: e.field ? `${e.field}.${key}` : key, message: "Unknown field" });
      }
      continue;
    }
    out.push({
      ...(e.field ? { field: e.field } : {}),
      message: e.message ?? "Invalid value",
    });
  }
  return out;
}
