import { loadConfig, mysqlUrlFor } from "../../lib/config";

describe("configuration", () => {
  it("uses embedded defaults when nothing is set", () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.mysqlUrl).toBeUndefined();
    expect(config.redisUrl).toBeUndefined();
  });

  it("lists every invalid key in one error", () => {
    expect(() => loadConfig({ PORT: "abc", LOG_LEVEL: "loud" })).toThrow(/PORT[\s\S]*LOG_LEVEL/);
  });

  it("refuses an access token lifetime above 15 minutes", () => {
    expect(() => loadConfig({ ACCESS_TOKEN_TTL: "3600" })).toThrow(/ACCESS_TOKEN_TTL/);
  });

  it("takes the shop's currency as an ISO 4217 code, and nothing else", () => {
    expect(loadConfig({}).shopCurrency).toBe("EUR");
    expect(loadConfig({ SHOP_CURRENCY: "USD" }).shopCurrency).toBe("USD");
    for (const bad of ["usd", "US", "EURO", "€"])
      expect(() => loadConfig({ SHOP_CURRENCY: bad })).toThrow(/SHOP_CURRENCY must be an ISO 4217/);
  });

  it("lets a service have its own database URL", () => {
    const config = loadConfig({ MYSQL_URL: "mysql://a/shared" });
    expect(mysqlUrlFor("users", config, { USERS_MYSQL_URL: "mysql://b/users" })).toBe(
      "mysql://b/users",
    );
    expect(mysqlUrlFor("orders", config, {})).toBe("mysql://a/shared");
  });
});
