import type { ApiResponse } from "./types";

/**
 * Idempotency keys as Stripe treats them: the first request with a key runs;
 * a later request with the same key and the same parameters gets the stored
 * answer (a request arriving while the first is still running waits for
 * it); the same key with different parameters is refused. Server errors are
 * not stored, so a retry after a 5xx runs again — and, because the charge
 * was not made, charges once.
 */
interface Entry {
  fingerprint: string;
  answer: Promise<ApiResponse>;
}

export type IdempotentResult =
  { kind: "answered"; response: ApiResponse; replayed: boolean } | { kind: "mismatch" };

export class IdempotencyStore {
  private readonly entries = new Map<string, Entry>();

  async run(
    key: string,
    fingerprint: string,
    execute: () => Promise<ApiResponse>,
  ): Promise<IdempotentResult> {
    const existing = this.entries.get(key);
    if (existing) {
      if (existing.fingerprint !== fingerprint) return { kind: "mismatch" };
      return { kind: "answered", response: await existing.answer, replayed: true };
    }
    const answer = execute();
    this.entries.set(key, { fingerprint, answer });
    try {
      const response = await answer;
      if (response.status >= 500) this.entries.delete(key);
      return { kind: "answered", response, replayed: false };
    } catch (err) {
      this.entries.delete(key);
      throw err;
    }
  }
}

/** The same parameters in any key order give the same fingerprint. */
export function fingerprintOf(method: string, path: string, params: unknown): string {
  return `${method} ${path} ${stableJson(params)}`;
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
