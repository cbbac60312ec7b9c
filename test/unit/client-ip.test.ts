import { normalizeIp, resolveClientIp, trustedProxies } from "../../services/api/client-ip";

describe("normalizeIp", () => {
  it.each([
    ["10.0.0.1", "10.0.0.1"],
    [" 10.0.0.1 ", "10.0.0.1"],
    ["::ffff:127.0.0.1", "127.0.0.1"],
    ["::FFFF:10.1.2.3", "10.1.2.3"],
    ["10.0.0.1:5678", "10.0.0.1"],
    ["[2001:DB8::1]", "2001:db8::1"],
    ["[2001:db8::1]:443", "2001:db8::1"],
    ["2001:db8::1", "2001:db8::1"],
  ])("%s → %s", (raw, expected) => {
    expect(normalizeIp(raw)).toBe(expected);
  });
});

describe("trustedProxies", () => {
  it("trusts nothing when unset", () => {
    expect(trustedProxies([])("127.0.0.1")).toBe(false);
  });

  it("matches exact addresses, CIDR ranges and IPv4-mapped forms", () => {
    const trusted = trustedProxies(["10.0.0.1", "192.168.0.0/16", "fd00::/8"]);
    expect(trusted("10.0.0.1")).toBe(true);
    expect(trusted("::ffff:10.0.0.1")).toBe(true);
    expect(trusted("10.0.0.2")).toBe(false);
    expect(trusted("192.168.44.5")).toBe(true);
    expect(trusted("fd12::7")).toBe(true);
    expect(trusted("2001:db8::1")).toBe(false);
    expect(trusted("not-an-ip")).toBe(false);
  });

  it.each(["localhost", "10.0.0.0/33", "10.0.0.1/x", "1.2.3.4/8/9"])(
    "refuses the bad entry %s at start",
    (entry) => {
      expect(() => trustedProxies([entry])).toThrow(/TRUST_PROXY/);
    },
  );
});

describe("resolveClientIp", () => {
  const proxy = trustedProxies(["10.0.0.1", "10.0.0.2"]);

  it("is the socket address when no proxy is trusted", () => {
    expect(resolveClientIp("203.0.113.9", "1.1.1.1", trustedProxies([]))).toBe("203.0.113.9");
  });

  it("ignores X-Forwarded-For sent by an untrusted peer (spoofing changes nothing)", () => {
    expect(resolveClientIp("203.0.113.9", "1.1.1.1, 10.0.0.1", proxy)).toBe("203.0.113.9");
  });

  it("takes the right-most untrusted hop behind trusted proxies", () => {
    // The client forged "1.1.1.1"; the proxies appended the real address and each other.
    expect(resolveClientIp("10.0.0.1", "1.1.1.1, 198.51.100.7, 10.0.0.2", proxy)).toBe(
      "198.51.100.7",
    );
  });

  it("reads repeated headers as one list", () => {
    expect(resolveClientIp("10.0.0.1", ["1.1.1.1", "198.51.100.7"], proxy)).toBe("198.51.100.7");
  });

  it("is the socket address when a trusted proxy sent no header", () => {
    expect(resolveClientIp("10.0.0.1", undefined, proxy)).toBe("10.0.0.1");
  });

  it("is the left-most hop when every hop is a trusted proxy", () => {
    expect(resolveClientIp("10.0.0.1", "10.0.0.2", proxy)).toBe("10.0.0.2");
  });

  it("stops at the last trusted hop when the chain holds garbage", () => {
    expect(resolveClientIp("10.0.0.1", "1.1.1.1, evil<script>, 10.0.0.2", proxy)).toBe("10.0.0.2");
  });

  it("normalises mapped addresses so one client has one key", () => {
    expect(resolveClientIp("::ffff:203.0.113.9", undefined, proxy)).toBe("203.0.113.9");
    expect(resolveClientIp("::ffff:10.0.0.1", "198.51.100.7:4711", proxy)).toBe("198.51.100.7");
  });

  it("names an unknown peer rather than failing", () => {
    expect(resolveClientIp(undefined, undefined, proxy)).toBe("unknown");
  });
});
