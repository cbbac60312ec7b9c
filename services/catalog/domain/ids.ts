const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Products and categories are named by UUIDs (in lower case) or by slugs. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
