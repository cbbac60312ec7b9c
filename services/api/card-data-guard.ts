import { AppError } from "../../lib/errors";
import { findCardData } from "../../lib/security/card-data";
import type { Middleware } from "./middleware";

/**
 * Refuses any JSON body that holds a card number or a security code
 * (lib/security/card-data.ts) with 400, before an action is called: card
 * data reaches us only as a provider token, and refusing it here means no
 * service can store or log it. The error names where it was found, never
 * the value; a 400 is not logged, and request bodies never are (api.service.ts).
 */
export function cardDataGuard(): Middleware {
  return (req, _res, next) => {
    const finding = findCardData((req as { body?: unknown }).body);
    if (!finding) return next();
    next(
      AppError.validation(
        "Card numbers and security codes are not accepted: pay with a payment provider token",
        [{ field: finding.path, message: "must not hold a card number or security code" }],
      ),
    );
  };
}
