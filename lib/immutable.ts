import { deepCopy } from "./deep-copy";

/**
 * Values nobody can change, so they can be shared instead of copied, and
 * their JSON encoded once. The memory cacher stores each entry this way
 * (lib/infra/cache.ts) and the gateway sends a cached result's JSON from
 * `encodeJson`: on a warm product list, copying the entry and encoding it
 * were almost half of every request.
 *
 * Only plain data qualifies (objects of Object.prototype or none, arrays and
 * primitives): a Date, Map, Set or Buffer can be changed through its methods
 * whatever Object.freeze says, so a value holding one stays a copy.
 */
const sealed = new WeakSet<object>();
const encoded = new WeakMap<object, string>();

/**
 * A deep copy of `value`, frozen all through when it is plain data. A value
 * already frozen by this function is returned as it is.
 */
export function immutableCopy<T>(value: T): T {
  if (value === null || typeof value !== "object" || sealed.has(value)) return value;
  const copy = deepCopy(value);
  if (isPlain(copy)) freeze(copy);
  return copy;
}

/** Whether `value` came from immutableCopy frozen (and so may be shared as it is). */
export function isImmutable(value: unknown): boolean {
  return typeof value === "object" && value !== null && sealed.has(value);
}

/** JSON.stringify, done once per immutable value. */
export function encodeJson(value: unknown): string {
  if (!isImmutable(value)) return JSON.stringify(value);
  const key = value as object;
  let json = encoded.get(key);
  if (json === undefined) {
    json = JSON.stringify(key);
    encoded.set(key, json);
  }
  return json;
}

function isPlain(value: unknown): boolean {
  if (value === null || typeof value !== "object") return typeof value !== "function";
  if (Array.isArray(value)) return value.every(isPlain);
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value).every(isPlain);
}

function freeze(value: unknown): void {
  if (value === null || typeof value !== "object") return;
  for (const child of Object.values(value)) freeze(child);
  Object.freeze(value);
  sealed.add(value);
}
