import { loadConfig } from "../../lib/config";
import { redisConnectionOptions } from "../../lib/infra/tls";

/**
 * A Redis URL's `connectionName` (as ioredis reads it from a URL) reaches
 * every client built from the URL, so a node's connections can be found by
 * name in CLIENT LIST (the Redis fault tests kill exactly those).
 */
describe("Redis connection names", () => {
  const config = loadConfig({});

  it("keeps the URL's connectionName", () => {
    expect(
      redisConnectionOptions(config, "redis://cache:6379/1?connectionName=node%3Aorders-1"),
    ).toEqual({ host: "cache", port: 6379, db: 1, connectionName: "node:orders-1" });
  });

  it("names nothing when the URL does not", () => {
    expect(redisConnectionOptions(config, "redis://cache")).not.toHaveProperty("connectionName");
  });
});
