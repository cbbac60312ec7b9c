import { AppError } from "../../lib/errors";
import type { Middleware } from "./middleware";

/**
 * Refuses text holding U+0000 (NUL) in the body, the query string or a path
 * segment with a 400 naming the field, before an action runs. No field of
 * ours means one, and the embedded SQLite driver cuts a statement at a NUL,
 * which turned such a value into a 500.
 */
export function nulCharacterGuard(): Middleware {
  return (req, _res, next) => {
    const { body, query, parsedUrl } = req as unknown as {
      body?: unknown;
      query?: unknown;
      parsedUrl?: string;
    };
    const field =
      fieldWithNul(body) ??
      fieldWithNul(query) ??
      ((parsedUrl ?? "").split("/").some((s) => decoded(s).includes("\0")) ? "(path)" : undefined);
    if (field === undefined) return next();
    next(
      AppError.validation("Text must not contain NUL characters", [
        { field, message: "must not contain a NUL (U+0000) character" },
      ]),
    );
  };
}

/** The path of the first key or string holding a NUL, or undefined. */
function fieldWithNul(value: unknown): string | undefined {
  // Iterative: a deeply nested body must not overflow the stack.
  const stack: { value: unknown; path: string }[] = [{ value, path: "" }];
  while (stack.length) {
    const { value: v, path } = stack.pop()!;
    if (typeof v === "string") {
      if (v.includes("\0")) return path || "(body)";
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ value: item, path: `${path}[${i}]` }));
    } else if (typeof v === "object" && v !== null) {
      for (const [key, child] of Object.entries(v)) {
        const childPath = path ? `${path}.${key}` : key;
        if (key.includes("\0")) return childPath;
        stack.push({ value: child, path: childPath });
      }
    }
  }
  return undefined;
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
