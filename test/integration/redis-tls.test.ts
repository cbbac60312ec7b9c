import fs from "node:fs";
import { ServiceBroker } from "moleculer";
import { buildBrokerOptions } from "../../lib/broker";
import { loadConfig } from "../../lib/config";
import StandaloneConnector from "ioredis/built/connectors/StandaloneConnector";
import { Infrastructure } from "../../lib/infra";
import { TlsSocketErrorGuard } from "../../lib/infra/redis-tls-connector";
import { redisConnectionOptions } from "../../lib/infra/tls";
import { privateCaWithServerCertificate, pemDirectory } from "../helpers/certificates";
import { binaryAvailable, PrivateServer, startTlsRedis } from "../helpers/private-servers";
import { uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * Every Redis client over TLS: a private redis-server that listens on a TLS
 * port only (so anything that works went over TLS), with a certificate from
 * a private CA. With REDIS_TLS_CA_FILE naming that CA the key-value store,
 * the job queues, the cacher, Redis Streams channels and the Redis
 * transporter all work; without it the certificate does not verify and the
 * connection is refused.
 */
if (binaryAvailable("redis-server"))
  describe("Redis over TLS (rediss://)", () => {
    const files = pemDirectory();
    let caFile: string;
    let redis: PrivateServer;
    let url: string;

    beforeAll(async () => {
      const { ca, server } = await privateCaWithServerCertificate();
      caFile = files.write("ca.crt", ca.cert);
      redis = await startTlsRedis({
        caFile,
        certFile: files.write("redis.crt", server.cert),
        keyFile: files.write("redis.key", server.key),
        dir: files.dir,
      });
      url = `rediss://127.0.0.1:${redis.port}`;
    });

    afterAll(async () => {
      await redis?.stop();
      fs.rmSync(files.dir, { recursive: true, force: true });
    });

    it("runs the key-value store and the job queues with the CA of REDIS_TLS_CA_FILE", async () => {
      const infra = new Infrastructure(
        loadConfig({ REDIS_URL: url, REDIS_TLS_CA_FILE: caFile, REDIS_PREFIX: "kvq:" }),
      );
      try {
        await infra.kv.set("greeting", "hello", 60_000);
        expect(await infra.kv.get("greeting")).toBe("hello");

        const processed: unknown[] = [];
        const queue = infra.queues.queue<{ n: number }>("tls-jobs");
        queue.process(async (job) => {
          processed.push(job.data);
        });
        await queue.add("work", { n: 1 });
        await waitFor(() => processed.length === 1);
        expect(processed).toEqual([{ n: 1 }]);

        const ports = await infra.check();
        expect(ports.filter((p) => ["kv", "cache", "queue"].includes(p.port))).toEqual([
          expect.objectContaining({ port: "kv", ok: true }),
          expect.objectContaining({ port: "cache", ok: true }),
          expect.objectContaining({ port: "queue", ok: true }),
        ]);
      } finally {
        await infra.close();
      }
    });

    it("runs the cacher, Redis Streams channels and the Redis transporter of a node", async () => {
      const received: unknown[] = [];
      const config = loadConfig({
        LOG_LEVEL: "warn",
        NODE_ID: uniqueName("tls-node"),
        REDIS_URL: url,
        CHANNELS_URL: url,
        TRANSPORTER: url,
        REDIS_TLS_CA_FILE: caFile,
        CHANNELS_PREFIX: uniqueName("tls"),
        CHANNELS_POLL_INTERVAL_MS: "50",
      });
      const broker = new ServiceBroker(buildBrokerOptions(config));
      broker.createService({
        name: "tls-listener",
        channels: {
          "tls.greetings": {
            group: "tls-listener",
            // Channels are called with a Context on every node (context: true).
            handler(ctx: { params: unknown }) {
              received.push(ctx.params);
            },
          },
        },
      });
      try {
        await broker.start();
        expect(broker.transit?.connected).toBe(true);

        await broker.cacher!.set("cached", { value: 42 });
        expect(await broker.cacher!.get("cached")).toEqual({ value: 42 });

        await (broker as unknown as ChannelBroker).sendToChannel("tls.greetings", { hi: 1 });
        await waitFor(() => received.length === 1);
        expect(received).toEqual([{ hi: 1 }]);
      } finally {
        await broker.stop();
      }
    });

    it("refuses the server when its CA is not trusted (verification is on by default)", async () => {
      const warnings = jest.spyOn(console, "warn").mockImplementation(() => undefined);
      const infra = new Infrastructure(loadConfig({ REDIS_URL: url }));
      try {
        await expect(infra.kv.set("never", "stored")).rejects.toThrow();
        expect(await infra.kv.ping()).toBe(false);
        // What the operator sees in the log: the certificate is the reason. A
        // handshake cut short can be logged first; the refusal follows on the
        // next reconnect, so wait for it rather than read the log at once.
        await waitFor(() =>
          warnings.mock.calls.some(([line]) =>
            /^Redis key-value store: .*certificate/.test(String(line)),
          ),
        );
      } finally {
        await infra.close();
        warnings.mockRestore();
      }
    });

    it("never lets a second error of a TLS socket escape as an uncaught exception", async () => {
      // ioredis listens with once(): a refused handshake can be followed by the
      // server's alert, a second error. Node throws an error nobody listens to.
      const { tls } = redisConnectionOptions(
        loadConfig({ REDIS_URL: url, REDIS_TLS_CA_FILE: caFile }),
        url,
      );
      const options = { host: "127.0.0.1", port: redis.port, tls };
      const secondError = async (connector: StandaloneConnector) => {
        const stream = await connector.connect(() => undefined);
        stream.once("error", () => undefined); // the client's own once() listener
        stream.emit("error", new Error("certificate refused"));
        try {
          stream.emit("error", new Error("tlsv1 alert decode error"));
          return "kept";
        } catch {
          return "thrown";
        } finally {
          connector.disconnect();
        }
      };
      expect(await secondError(new StandaloneConnector(options))).toBe("thrown");
      expect(await secondError(new TlsSocketErrorGuard(options))).toBe("kept");
      expect(redisConnectionOptions(loadConfig({ REDIS_URL: url }), url).Connector).toBe(
        TlsSocketErrorGuard,
      );
    });

    it("connects without the CA only when verification is switched off (development)", async () => {
      const infra = new Infrastructure(
        loadConfig({
          REDIS_URL: url,
          REDIS_TLS_REJECT_UNAUTHORIZED: "false",
          REDIS_PREFIX: "dev:",
        }),
      );
      try {
        await infra.kv.set("unverified", "yes", 60_000);
        expect(await infra.kv.get("unverified")).toBe("yes");
      } finally {
        await infra.close();
      }
    });
  });

interface ChannelBroker {
  sendToChannel(channel: string, payload: unknown): Promise<void>;
}
