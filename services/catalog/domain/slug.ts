/**
 * Slugs: the lower-case kebab-case ASCII names that make product and
 * category URLs (`/products/sony-wh-1000xm5`). A slug the client gives is
 * taken as it is (a duplicate is a 409); a slug made from a name gets a
 * numeric suffix when it collides (`blue-kettle-2`).
 */
export const SLUG_MAX_LENGTH = 120;
/** A generated slug's base leaves room for a suffix within SLUG_MAX_LENGTH. */
const BASE_MAX_LENGTH = 100;
export const SLUG_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** Letters that do not decompose into ASCII with NFKD. */
const TRANSLITERATIONS: Record<string, string> = {
  ß: "ss",
  æ: "ae",
  œ: "oe",
  ø: "o",
  đ: "d",
  ð: "d",
  þ: "th",
  ł: "l",
  ı: "i",
  "&": " and ",
  "+": " plus ",
};

export function isValidSlug(value: string): boolean {
  return value.length <= SLUG_MAX_LENGTH && SLUG_PATTERN.test(value);
}

/**
 * "Sony WH-1000XM5 Kopfhörer (Schwarz)" → "sony-wh-1000xm5-kopfhorer-schwarz".
 * Accents are dropped, anything else that is not a letter or digit separates
 * words. Returns `fallback` when nothing usable is left (e.g. a name in a
 * script with no ASCII transliteration).
 */
export function slugify(text: string, fallback = "item"): string {
  const ascii = text
    .toLowerCase()
    .replace(/[ßæœøđðþłı&+]/g, (ch) => TRANSLITERATIONS[ch] ?? ch)
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "");
  const words = ascii.split(/[^a-z0-9]+/).filter(Boolean);
  let slug = "";
  for (const word of words) {
    const next = slug ? `${slug}-${word}` : word;
    if (next.length > BASE_MAX_LENGTH) {
      if (!slug) slug = word.slice(0, BASE_MAX_LENGTH);
      break;
    }
    slug = next;
  }
  return slug || fallback;
}

/** The base slug with its n-th suffix: n = 1 is the base itself, then `base-2`, `base-3`… */
export function withSuffix(base: string, n: number): string {
  return n <= 1 ? base : `${base}-${n}`;
}

/**
 * The first of `base`, `base-2`, `base-3`… not in `taken` (the slugs already
 * used that look like it: see `isSuffixOf`).
 */
export function firstFreeSlug(base: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  for (let n = 1; ; n++) {
    const candidate = withSuffix(base, n);
    if (!used.has(candidate)) return candidate;
  }
}

/** True when `slug` is `base` or `base-<number>` (what firstFreeSlug may have made from base). */
export function isSuffixOf(base: string, slug: string): boolean {
  if (slug === base) return true;
  if (!slug.startsWith(`${base}-`)) return false;
  return /^[1-9][0-9]*$/.test(slug.slice(base.length + 1));
}
