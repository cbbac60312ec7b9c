import { AppError } from "../../lib/errors";
import { findCardData, looksLikeCardNumber } from "../../lib/security/card-data";
import type { Middleware } from "./middleware";

/**
 * Refuses any request that holds a card number or a security code
 * (lib/security/card-data.ts) with 400, before an action is called: in the
 * JSON or form body, the query string, a path segment, or the
 * Idempotency-Key header (which the orders service keeps). Card data reaches
 * us only as a provider token, and refusing it here means no service can
 * store, cache or log it. The error names where it was found, never the
 * value; a 400 is not logged, request bodies never are (api.service.ts), and
 * the access log redacts URLs (redactCardDataInUrl).
 */
export function cardDataGuard(): Middleware {
  return (req, _res, next) => {
    const field = cardDataIn(req as unknown as RequestParts);
    if (!field) return next();
    next(
      AppError.validation(
        "Card numbers and security codes are not accepted: pay with a payment provider token",
        [{ field, message: "must not hold a card number or security code" }],
      ),
    );
  };
}

interface RequestParts {
  body?: unknown;
  query?: unknown;
  parsedUrl?: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Where the request holds card data (a field name), or undefined. */
function cardDataIn(req: RequestParts): string | undefined {
  const inBody = findCardData(req.body);
  if (inBody) return inBody.path;
  const inQuery = findCardData(req.query);
  if (inQuery) return inQuery.path;
  if ((req.parsedUrl ?? "").split("/").some((segment) => looksLikeCardNumber(decoded(segment))))
    return "(path)";
  const key = req.headers["idempotency-key"];
  if (typeof key === "string" && looksLikeCardNumber(key)) return "Idempotency-Key";
  return undefined;
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
