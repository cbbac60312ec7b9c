import { randomUUID } from "node:crypto";
import { looksLikeCardNumber } from "../../lib/security/card-data";

/** Short ids of safe characters only: they end up in log lines, headers and message headers. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The client's X-Request-ID when it is sane, a fresh uuid otherwise. A card
 * number is not sane: the id is written in every log line and message header.
 */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && SANE_REQUEST_ID.test(value) && !looksLikeCardNumber(value)
    ? value
    : randomUUID();
}
