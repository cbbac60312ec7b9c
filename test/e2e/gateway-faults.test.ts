import type { ServiceSchema } from "moleculer";
import { startPlatform } from "../helpers/platform";

/**
 * The gateway while Redis is unreachable: requests are still served (the rate
 * limiter fails open rather than taking the API down) and readiness says which
 * ports are failing, so the orchestrator stops sending traffic.
 */
const Echo: ServiceSchema = {
  name: "gwecho",
  settings: { rest: "/" },
  actions: { ping: { rest: "GET /ping", auth: "public", handler: () => ({ pong: true }) } },
};

describe("gateway with Redis unreachable", () => {
  it("serves requests without rate limits and reports not ready", async () => {
    // The Redis clients report the outage on the console; expected here.
    const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
    const platform = await startPlatform({
      services: [Echo],
      // Nothing listens on port 1; fatal-only logs keep the expected connection errors quiet.
      env: { REDIS_URL: "redis://127.0.0.1:1", RATE_LIMIT_MAX: "1", LOG_LEVEL: "fatal" },
    });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await platform.request("GET", "/ping");
        expect(res.status).toBe(200);
        expect(res.headers["ratelimit-limit"]).toBeUndefined();
      }
      const ready = await platform.request("GET", platform.origin + "/health/ready");
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({
        status: "unavailable",
        ports: expect.arrayContaining([{ port: "kv", adapter: "redis", ok: false }]),
        services: [{ name: "gwecho", ok: true }],
      });
      // Liveness stays up: restarting the gateway would not bring Redis back.
      expect((await platform.request("GET", platform.origin + "/health")).status).toBe(200);
    } finally {
      await platform.stop();
      warn.mockRestore();
    }
  });
});
