import { BlockList, isIP } from "node:net";
import { Middleware, requestMeta } from "./middleware";

/**
 * The client address behind trusted proxies. X-Forwarded-For is read only when
 * the socket peer is a trusted proxy, and then from the right: each trusted hop
 * vouches for the one before it, so the right-most untrusted address is the
 * first one nobody could have forged. A client that sends its own header
 * without going through a trusted proxy changes nothing.
 */
export type TrustedProxies = (address: string) => boolean;

/** Builds the trust check from TRUST_PROXY entries: addresses or CIDR ranges. */
export function trustedProxies(entries: readonly string[]): TrustedProxies {
  if (!entries.length) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [rawAddress, bits, ...rest] = entry.split("/");
    const address = normalizeIp(rawAddress);
    const family = isIP(address);
    const prefix = bits === undefined ? undefined : Number(bits);
    const maxPrefix = family === 6 ? 128 : 32;
    if (
      !family ||
      rest.length ||
      (prefix !== undefined && (!Number.isInteger(prefix) || prefix < 0 || prefix > maxPrefix))
    )
      throw new Error(`TRUST_PROXY: "${entry}" is not an IP address or CIDR range`);
    const type = family === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, prefix, type);
  }
  return (address) => {
    const ip = normalizeIp(address);
    const family = isIP(ip);
    return family !== 0 && list.check(ip, family === 6 ? "ipv6" : "ipv4");
  };
}

/**
 * Canonical form of an address as sockets and proxies write it: no brackets or
 * port, lower case, and IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as plain IPv4 so
 * one client has one rate-limit key.
 */
export function normalizeIp(raw: string): string {
  let ip = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(ip);
  if (bracketed) ip = bracketed[1];
  else if (/^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(ip)) ip = ip.slice(0, ip.lastIndexOf(":"));
  ip = ip.toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(\.\d{1,3}){3})$/.exec(ip);
  return mapped ? mapped[1] : ip;
}

export function resolveClientIp(
  socketAddress: string | undefined,
  forwardedFor: string | string[] | undefined,
  isTrusted: TrustedProxies,
): string {
  const peer = normalizeIp(socketAddress ?? "") || "unknown";
  if (!forwardedFor || !isTrusted(peer)) return peer;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor)
    .split(",")
    .map(normalizeIp)
    .filter(Boolean);
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    // Garbage from a trusted hop: the last address we can vouch for is the answer.
    if (!isIP(hops[i])) return client;
    client = hops[i];
    if (!isTrusted(client)) return client;
  }
  // Every hop is a trusted proxy: the left-most one is as far as the chain goes.
  return client;
}

/** Resolves the client address once per request into ctx.meta.clientIp. */
export function clientIpMiddleware(isTrusted: TrustedProxies): Middleware {
  return (req, _res, next) => {
    requestMeta(req).clientIp = resolveClientIp(
      req.socket.remoteAddress,
      req.headers["x-forwarded-for"],
      isTrusted,
    );
    next();
  };
}
