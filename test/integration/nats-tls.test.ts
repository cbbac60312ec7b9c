import fs from "node:fs";
import { ServiceBroker } from "moleculer";
import { buildBrokerOptions } from "../../lib/broker";
import { loadConfig } from "../../lib/config";
import { privateCaWithServerCertificate, pemDirectory } from "../helpers/certificates";
import { binaryAvailable, PrivateServer, startTlsNats } from "../helpers/private-servers";
import { uniqueName } from "../helpers/servers";
import { waitFor } from "../helpers/wait";

/**
 * NATS over TLS: a private nats-server (JetStream) that requires TLS, with a
 * certificate from a private CA. With tls:// URLs and NATS_TLS_CA_FILE a
 * node's transporter and JetStream channels work; without the CA the
 * certificate does not verify and the node does not start.
 */
interface ChannelBroker {
  sendToChannel(channel: string, payload: unknown): Promise<void>;
}

if (binaryAvailable("nats-server"))
  describe("NATS over TLS (tls://)", () => {
    const files = pemDirectory();
    let caFile: string;
    let nats: PrivateServer;
    let url: string;

    beforeAll(async () => {
      const { ca, server } = await privateCaWithServerCertificate();
      caFile = files.write("ca.crt", ca.cert);
      nats = await startTlsNats({
        caFile,
        certFile: files.write("nats.crt", server.cert),
        keyFile: files.write("nats.key", server.key),
        dir: files.dir,
      });
      url = `tls://127.0.0.1:${nats.port}`;
    });

    afterAll(async () => {
      await nats?.stop();
      fs.rmSync(files.dir, { recursive: true, force: true });
    });

    function node(env: Record<string, string>): ServiceBroker {
      const config = loadConfig({
        LOG_LEVEL: "warn",
        NODE_ID: uniqueName("nats-tls"),
        CHANNELS_PREFIX: uniqueName("tls"),
        ...env,
      });
      return new ServiceBroker(buildBrokerOptions(config));
    }

    it("runs the transporter and JetStream channels with the CA of NATS_TLS_CA_FILE", async () => {
      const received: unknown[] = [];
      const broker = node({ TRANSPORTER: url, CHANNELS_URL: url, NATS_TLS_CA_FILE: caFile });
      broker.createService({
        name: "tls-listener",
        channels: {
          "tls.greetings": {
            group: "tls-listener",
            handler(ctx: { params: unknown }) {
              received.push(ctx.params);
            },
          },
        },
      });
      try {
        await broker.start();
        expect(broker.transit?.connected).toBe(true);
        await (broker as unknown as ChannelBroker).sendToChannel("tls.greetings", { hi: 1 });
        await waitFor(() => received.length === 1);
        expect(received).toEqual([{ hi: 1 }]);
      } finally {
        await broker.stop();
      }
    });

    it("does not start when the server's CA is not trusted (verification is on by default)", async () => {
      const broker = node({ CHANNELS_URL: url });
      try {
        await expect(broker.start()).rejects.toThrow(/certificate/);
      } finally {
        await broker.stop().catch(() => undefined);
      }
    });
  });
