/**
 * Card-data detector (ARCHITECTURE §8: no PAN or CVV anywhere). Card numbers
 * reach us only as provider tokens; a request that carries a card number or a
 * security code is refused before any service sees it, so none can store or
 * log one by mistake.
 *
 * A value holds card data when
 *  - a string or number is 13–19 digits (spaces or dashes allowed between
 *    groups) and passes the Luhn check — Luhn-invalid ids and timestamps do
 *    not count; or
 *  - a key is named like a card number or security code (`cardNumber`,
 *    `card_number`, `pan`, `cvv`, `cvc`, `cvv2`, `securityCode`,
 *    `security_code`, any case), or is `number` inside a `card` or
 *    `paymentMethod` object.
 */
export interface CardDataFinding {
  /** Where it was found, e.g. `paymentMethod.token` (never the value itself). */
  path: string;
  reason: "card-number" | "card-field";
}

/** Keys refused wherever they appear (compared lower-case, without `_` and `-`). */
const CARD_FIELDS = new Set(["cardnumber", "pan", "cvv", "cvc", "cvv2", "securitycode"]);
/** Objects in which a plain `number` key means a card number. */
const CARD_OBJECTS = new Set(["card", "paymentmethod"]);

/** 13–19 digits, single spaces or dashes allowed between digits. */
const CARD_NUMBER_SHAPE = /^\d(?:[ -]?\d){12,18}$/;

/** The first card number or card field in `value`, or null when there is none. */
export function findCardData(value: unknown): CardDataFinding | null {
  // Iterative walk: a deeply nested body must not overflow the stack.
  const stack: { value: unknown; path: string; parentKey: string }[] = [
    { value, path: "", parentKey: "" },
  ];
  while (stack.length) {
    const item = stack.pop()!;
    const v = item.value;
    if (typeof v === "string" || typeof v === "number") {
      if (looksLikeCardNumber(v)) return { path: item.path || "(body)", reason: "card-number" };
      continue;
    }
    if (typeof v !== "object" || v === null) continue;
    if (Array.isArray(v)) {
      v.forEach((element, i) =>
        stack.push({ value: element, path: `${item.path}[${i}]`, parentKey: item.parentKey }),
      );
      continue;
    }
    const inCardObject = CARD_OBJECTS.has(item.parentKey);
    for (const [key, child] of Object.entries(v as Record<string, unknown>)) {
      const normalized = normalizeKey(key);
      const path = item.path ? `${item.path}.${key}` : key;
      if (CARD_FIELDS.has(normalized) || (inCardObject && normalized === "number"))
        return { path, reason: "card-field" };
      stack.push({ value: child, path, parentKey: normalized });
    }
  }
  return null;
}

export function containsCardData(value: unknown): boolean {
  return findCardData(value) !== null;
}

/** A primary account number's shape and checksum. */
export function looksLikeCardNumber(value: string | number): boolean {
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 0) return false;
    const digits = value.toFixed(0);
    if (digits.length < 13 || digits.length > 19) return false;
    // Past 2^53 the sent digits are already lost, so the checksum cannot be
    // checked; such a number is refused rather than let through.
    return !Number.isSafeInteger(value) || passesLuhn(digits);
  }
  const text = value.trim();
  if (text.length > 40 || !CARD_NUMBER_SHAPE.test(text)) return false;
  return passesLuhn(text.replace(/[ -]/g, ""));
}

/** The Luhn (mod 10) checksum every payment card number carries. */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, "");
}

/**
 * A URL as it may be logged: each path segment or query value holding card
 * data (by the rules above, applied to the decoded text; a query key named
 * like a card field counts too) becomes `[REDACTED]`. The gateway refuses such
 * requests, but its access log writes the URL of every request, refused or not.
 */
export function redactCardDataInUrl(url: string): string {
  const queryStart = url.indexOf("?");
  const path = queryStart === -1 ? url : url.slice(0, queryStart);
  const cleanPath = path
    .split("/")
    .map((segment) => (looksLikeCardNumber(decoded(segment)) ? REDACTED : segment))
    .join("/");
  if (queryStart === -1) return cleanPath;
  const cleanQuery = url
    .slice(queryStart + 1)
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      const key = eq === -1 ? pair : pair.slice(0, eq);
      const value = eq === -1 ? "" : pair.slice(eq + 1);
      // qs nesting (`paymentMethod[cvc]=…`) becomes the object the guard would see.
      const keys = decoded(key)
        .split(/[[\].]+/)
        .filter(Boolean);
      const asObject = keys.reduceRight<unknown>((inner, k) => ({ [k]: inner }), decoded(value));
      if (looksLikeCardNumber(decoded(key))) return REDACTED;
      if (findCardData(asObject)) return eq === -1 ? REDACTED : `${key}=${REDACTED}`;
      return pair;
    })
    .join("&");
  return `${cleanPath}?${cleanQuery}`;
}

const REDACTED = "[REDACTED]";

/** Percent-decoded text (`+` as a space); malformed encodings are taken as they are. */
function decoded(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}
