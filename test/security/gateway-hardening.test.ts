import { connect } from "node:net";
import { redactCardDataInUrl } from "../../lib/security/card-data";
import { requestIdFrom } from "../../services/api/request-id";
import { expectNoCardDataAtRest } from "./card-data-scan";
import {
  Customer,
  ErrorEnvelope,
  isErrorEnvelope,
  SecurityPlatform,
  startSecurityPlatform,
} from "./platform";

/**
 * What the fuzz and card-data suites found, one focused case each: requests
 * that used to get a 500, a bodiless answer from Node's HTTP parser, or that
 * carried a card number into a cache key or a log line.
 */
const PAN = "4111111111111111";

describe("gateway hardening", () => {
  let sec: SecurityPlatform;
  let shopper: Customer;

  beforeAll(async () => {
    sec = await startSecurityPlatform();
    shopper = await sec.customer();
  }, 60_000);

  afterAll(async () => {
    await sec?.stop();
  });

  function expectRefused(res: { status: number; body: unknown }, status: number, type: string) {
    expect(res.status).toBe(status);
    expect(isErrorEnvelope({ ...res, headers: {} })).toBe(true);
    expect((res.body as ErrorEnvelope).error.type).toBe(type);
    return (res.body as ErrorEnvelope).error;
  }

  it.each(["gzip", "deflate", "br"])(
    "400 (not 500) for a body that is not the %s its Content-Encoding says",
    async (encoding) => {
      const res = await sec.api("POST", "/auth/login", {
        body: '{"email":"a@b.c","password":"x"}',
        headers: { "content-type": "application/json", "content-encoding": encoding },
      });
      expect(expectRefused(res, 400, "VALIDATION").message).toMatch(/Content-Encoding/);
    },
  );

  it("431 in the envelope (not Node's empty answer) for headers or a URL over the size limit", async () => {
    const longUrl = await fetch(`${sec.platform.baseUrl}/products?brand=${"a".repeat(20_000)}`);
    expectRefused({ status: longUrl.status, body: await longUrl.json() }, 431, "HEADERS_TOO_LARGE");
    const bigHeader = await rawRequest(
      sec.platform.origin,
      `GET /api/v1/products HTTP/1.1\r\nHost: x\r\nX-Padding: ${"a".repeat(20_000)}\r\n\r\n`,
    );
    expectRefused(bigHeader, 431, "HEADERS_TOO_LARGE");
    expect(bigHeader.headers["x-request-id"]).toBe(
      (bigHeader.body as ErrorEnvelope).error.requestId,
    );
  });

  it("400 in the envelope for a request Node's parser cannot read", async () => {
    const res = await rawRequest(
      sec.platform.origin,
      "GET /api/v1/products HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
    );
    expectRefused(res, 400, "BAD_REQUEST");
  });

  it.each(["/orders", "/users/me/addresses", "/products", "/notifications"])(
    "400 naming `page` (not 500) for page=1e308 on %s",
    async (path) => {
      const token = path === "/notifications" ? sec.admin.token : shopper.token;
      const res = await sec.api("GET", `${path}?page=1e308`, { token });
      expect(expectRefused(res, 400, "VALIDATION").details).toEqual([
        expect.objectContaining({ field: "page" }),
      ]);
    },
  );

  it("400 naming the field (not 500) for text with a NUL character, in a body, a query or a path", async () => {
    const login = await sec.api("POST", "/auth/login", {
      body: { email: "\u0000", password: "x" },
    });
    expect(expectRefused(login, 400, "VALIDATION").details).toEqual([
      expect.objectContaining({ field: "email" }),
    ]);
    const query = await sec.api("GET", "/products?brand=a%00b");
    expect(expectRefused(query, 400, "VALIDATION").details[0].field).toBe("brand");
    const path = await sec.api("GET", "/products/%00");
    expect(expectRefused(path, 400, "VALIDATION").details[0].field).toBe("(path)");
  });

  it("400 naming the field (not 500) for null in an optional field that is not nullable", async () => {
    const profile = await sec.api("PATCH", "/users/me", {
      token: shopper.token,
      body: { name: null },
    });
    expect(expectRefused(profile, 400, "VALIDATION").details).toEqual([
      { field: "name", message: "name must not be null" },
    ]);
    const productId = await sec.product({ amount: 100, currency: "USD" });
    const product = await sec.api("PATCH", `/products/${productId}`, {
      token: sec.admin.token,
      body: { price: null, description: null },
    });
    expect(
      expectRefused(product, 400, "VALIDATION")
        .details.map((d) => d.field)
        .sort(),
    ).toEqual(["description", "price"]);
    // A field that may be cleared still takes null.
    const cleared = await sec.api<{ phone: string | null }>("PATCH", "/users/me", {
      token: shopper.token,
      body: { phone: null },
    });
    expect(cleared.status).toBe(200);
    expect(cleared.body.phone).toBeNull();
  });

  it("refuses card data in a query, a path or Idempotency-Key, and logs such URLs redacted", async () => {
    const query = await sec.api("GET", `/products?brand=${PAN}`);
    expect(expectRefused(query, 400, "VALIDATION").details[0].field).toBe("brand");
    const path = await sec.api("GET", `/products/${PAN}`);
    expect(expectRefused(path, 400, "VALIDATION").details[0].field).toBe("(path)");
    const key = await sec.api("POST", "/orders", {
      token: shopper.token,
      headers: { "idempotency-key": PAN },
      body: {},
    });
    expect(expectRefused(key, 400, "VALIDATION").details[0].field).toBe("Idempotency-Key");
    const logged = sec.logs.recent.filter((line) => line.includes("/api/v1/products"));
    expect(logged.some((line) => line.includes("/api/v1/products?brand=[REDACTED]"))).toBe(true);
    expect(logged.some((line) => line.includes("/api/v1/products/[REDACTED]"))).toBe(true);
    expect(sec.logs.recent.join("\n")).not.toContain(PAN);
  });

  it("does not take a card number as X-Request-ID (it would be in every log line and message)", () => {
    expect(requestIdFrom("order-42.retry")).toBe("order-42.retry");
    expect(requestIdFrom(PAN)).not.toBe(PAN);
    expect(requestIdFrom("4111-1111-1111-1111")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("keeps no card number or security code at rest", async () => {
    await expectNoCardDataAtRest(sec);
  }, 30_000);
});

describe("redactCardDataInUrl", () => {
  it.each([
    [`/api/v1/products/${PAN}`, "/api/v1/products/[REDACTED]"],
    [`/api/v1/search?q=${PAN}&page=2`, "/api/v1/search?q=[REDACTED]&page=2"],
    ["/api/v1/search?q=4111+1111+1111+1111", "/api/v1/search?q=[REDACTED]"],
    ["/api/v1/search?q=4111%201111%201111%201111", "/api/v1/search?q=[REDACTED]"],
    [
      "/api/v1/x?cvc=123&paymentMethod[cvv]=1",
      "/api/v1/x?cvc=[REDACTED]&paymentMethod[cvv]=[REDACTED]",
    ],
    ["/api/v1/x?card[number]=1", "/api/v1/x?card[number]=[REDACTED]"],
    [`/api/v1/x?${PAN}`, "/api/v1/x?[REDACTED]"],
  ])("%s → %s", (url, redacted) => {
    expect(redactCardDataInUrl(url)).toBe(redacted);
  });

  it("leaves everything else as it was, malformed encodings included", () => {
    for (const url of [
      "/api/v1/orders/0b7a3c1e-4a4f-4a52-9d43-7cf1f0b0a001?page=2",
      "/api/v1/search?q=lamp&minPrice=1718035200000",
      "/api/v1/products/%E0%A4%A?q=%",
      "/api/v1/x?number=4111111111111112",
    ])
      expect(redactCardDataInUrl(url)).toBe(url);
  });
});

/** Sends bytes as they are (fetch would refuse or fix them) and reads the answer. */
function rawRequest(
  origin: string,
  text: string,
): Promise<{ status: number; headers: Record<string, string>; body: unknown }> {
  const { port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), "127.0.0.1", () => socket.write(text));
    let answer = "";
    socket.on("data", (chunk) => (answer += chunk.toString("utf8")));
    socket.on("error", reject);
    socket.on("close", () => {
      const [head, body] = answer.split("\r\n\r\n");
      const [statusLine, ...headerLines] = head.split("\r\n");
      const headers = Object.fromEntries(
        headerLines.map((line) => {
          const colon = line.indexOf(":");
          return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
        }),
      );
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body: JSON.parse(body) });
    });
  });
}
