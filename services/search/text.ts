/**
 * Text handling shared by the adapters: the embedded index tokenizes and
 * folds like the Elasticsearch analyzers it mirrors (standard tokenizer +
 * lowercase + asciifolding), and highlights with the same `<em>` tags on
 * HTML-escaped text.
 */

/** Words: letters and digits, with inner apostrophes kept ("levi's"), like the standard tokenizer. */
const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu;

/** Lower case without diacritics ("Crème" → "creme"), like lowercase + asciifolding. */
export function fold(text: string): string {
  return text
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .replace(/’/g, "'")
    .toLowerCase();
}

/** The words of a text, as written. */
export function words(text: string): string[] {
  return text.match(WORD) ?? [];
}

/**
 * Lucene's English stop words (Elasticsearch's `_english_` set): not indexed
 * and not searched for, so "headphones for running" asks for two words and a
 * query for "a" does not match every product.
 */
export const STOP_WORDS: ReadonlySet<string> = new Set(
  (
    "a an and are as at be but by for if in into is it no not of on or such that the their " +
    "then there these they this to was will with"
  ).split(" "),
);

/** A word as indexed and searched: folded; undefined for a stop word. */
export function term(word: string): string | undefined {
  const t = fold(word);
  return STOP_WORDS.has(t) ? undefined : t;
}

/** The terms of a text (folded words, no stop words): what is indexed and what a query looks for. */
export function terms(text: string): string[] {
  return words(text)
    .map(term)
    .filter((t): t is string => t !== undefined);
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#x27;",
  "/": "&#x2F;",
};

/** Escapes like Elasticsearch's `encoder: html` (Lucene's SimpleHTMLEncoder), so both adapters agree. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'/]/g, (c) => HTML_ESCAPES[c]);
}

export const HIGHLIGHT_PRE = "<em>";
export const HIGHLIGHT_POST = "</em>";

/**
 * `text` escaped, with every word whose folded form is in `matched` wrapped in
 * <em>; undefined when no word matched.
 */
export function highlight(text: string, matched: ReadonlySet<string>): string | undefined {
  let out = "";
  let last = 0;
  let hit = false;
  for (const m of text.matchAll(WORD)) {
    const start = m.index;
    out += escapeHtml(text.slice(last, start));
    if (matched.has(fold(m[0]))) {
      out += HIGHLIGHT_PRE + escapeHtml(m[0]) + HIGHLIGHT_POST;
      hit = true;
    } else {
      out += escapeHtml(m[0]);
    }
    last = start + m[0].length;
  }
  out += escapeHtml(text.slice(last));
  return hit ? out : undefined;
}

/**
 * A fragment of about `size` characters around the first matched word,
 * cut at word boundaries and highlighted; undefined when no word matched.
 */
export function highlightFragment(
  text: string,
  matched: ReadonlySet<string>,
  size = 150,
): string | undefined {
  if (text.length <= size) return highlight(text, matched);
  const found = [...text.matchAll(WORD)];
  const first = found.findIndex((m) => matched.has(fold(m[0])));
  if (first < 0) return undefined;
  // Start a few words before the match, so it reads in context.
  const startWord = found[Math.max(0, first - 3)];
  const start = startWord.index;
  let end = start;
  for (let i = Math.max(0, first - 3); i < found.length; i++) {
    const wordEnd = found[i].index + found[i][0].length;
    if (wordEnd - start > size && i > first) break;
    end = wordEnd;
  }
  return highlight(text.slice(start, end), matched);
}
