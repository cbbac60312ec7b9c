import { Errors } from "moleculer";

/**
 * One error class with a closed set of types. Domain code throws AppError;
 * the gateway maps it to the JSON error envelope with the matching status.
 */
export const ERROR_TYPES = {
  VALIDATION: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNPROCESSABLE: 422,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
} as const;

export type ErrorType = keyof typeof ERROR_TYPES;

export interface ErrorDetail {
  field?: string;
  message: string;
  [key: string]: unknown;
}

export class AppError extends Errors.MoleculerError {
  constructor(
    type: ErrorType,
    message: string,
    details: ErrorDetail[] = [],
    extra: Record<string, unknown> = {},
  ) {
    super(message, ERROR_TYPES[type], type, { details, ...extra });
    this.name = "AppError";
  }

  static validation(message: string, details: ErrorDetail[] = []): AppError {
    return new AppError("VALIDATION", message, details);
  }
  static unauthorized(message = "Authentication required"): AppError {
    return new AppError("UNAUTHORIZED", message);
  }
  static forbidden(message = "Not allowed"): AppError {
    return new AppError("FORBIDDEN", message);
  }
  static notFound(what = "Resource"): AppError {
    return new AppError("NOT_FOUND", `${what} not found`);
  }
  static conflict(message: string, details: ErrorDetail[] = []): AppError {
    return new AppError("CONFLICT", message, details);
  }
  static unprocessable(message: string): AppError {
    return new AppError("UNPROCESSABLE", message);
  }
  static rateLimited(retryAfterSec: number, message = "Too many requests"): AppError {
    return new AppError("RATE_LIMITED", message, [], { retryAfter: retryAfterSec });
  }
}
