import { logLevelEnabled } from "../../lib/observability/logger";

describe("logLevelEnabled", () => {
  it("writes a level at or above the configured one", () => {
    expect(logLevelEnabled("info", "info")).toBe(true);
    expect(logLevelEnabled("info", "warn")).toBe(true);
    expect(logLevelEnabled("debug", "info")).toBe(true);
  });

  it("skips a level below the configured one", () => {
    expect(logLevelEnabled("warn", "info")).toBe(false);
    expect(logLevelEnabled("info", "debug")).toBe(false);
  });

  it("treats a switched-off or unknown level as off", () => {
    expect(logLevelEnabled("trace", false)).toBe(false);
    expect(logLevelEnabled("trace", null)).toBe(false);
    expect(logLevelEnabled("trace", "verbose")).toBe(false);
  });
});
