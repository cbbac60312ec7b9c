import { EventEmitter } from "node:events";
import type { Redis } from "ioredis";
import { reportOncePerOutage } from "../../lib/infra/kv/redis";

/**
 * What an operator reads while Redis is unreachable: each reason once per
 * outage, not one line per reconnect attempt, and again after a recovery.
 */
describe("reportOncePerOutage", () => {
  function client() {
    const emitter = new EventEmitter();
    const lines: string[] = [];
    reportOncePerOutage(emitter as unknown as Pick<Redis, "on">, "key-value store", (line) =>
      lines.push(line),
    );
    const fail = (message: string) => emitter.emit("error", new Error(message));
    return { emitter, lines, fail };
  }

  it("logs each reason of an outage once, in the order they came", () => {
    const { lines, fail } = client();
    fail("Client network socket disconnected before secure TLS connection was established");
    fail("self-signed certificate in certificate chain");
    fail("self-signed certificate in certificate chain");
    fail("Client network socket disconnected before secure TLS connection was established");
    expect(lines).toEqual([
      "Redis key-value store: Client network socket disconnected before secure TLS connection was established (reconnecting)",
      "Redis key-value store: self-signed certificate in certificate chain (reconnecting)",
    ]);
  });

  it("starts over once the client is ready again, and stops at a few reasons an outage", () => {
    const { emitter, lines, fail } = client();
    fail("connect ECONNREFUSED 127.0.0.1:6379");
    emitter.emit("ready");
    fail("connect ECONNREFUSED 127.0.0.1:6379");
    expect(lines).toHaveLength(2);
    for (let i = 0; i < 20; i++) fail(`reason ${i}`);
    expect(lines).toHaveLength(6);
  });
});
