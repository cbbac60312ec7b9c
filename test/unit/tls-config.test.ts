import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../lib/config";
import { TlsSocketErrorGuard } from "../../lib/infra/redis-tls-connector";
import {
  httpsServerOptions,
  mysqlSslOptions,
  natsTlsOptions,
  redisConnectionOptions,
} from "../../lib/infra/tls";
import { transporterOptions } from "../../lib/infra/transporter";

/**
 * The TLS rules of the configuration (what stops a node at start) and how the
 * settings become client options for the servers no test machine runs with
 * TLS (Kafka). Redis, MySQL, NATS and the gateway are exercised over real TLS
 * in test/integration/*-tls.test.ts and test/e2e/https-gateway.test.ts.
 */
const CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

describe("TLS configuration rules", () => {
  let dir: string;
  let caFile: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tls-config-"));
    caFile = path.join(dir, "ca.crt");
    fs.writeFileSync(caFile, CA_PEM);
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("takes the gateway certificate and key together or not at all", () => {
    const together = /HTTPS_CERT_FILE and HTTPS_KEY_FILE go together/;
    expect(() => loadConfig({ HTTPS_CERT_FILE: "/etc/tls/tls.crt" })).toThrow(together);
    expect(() => loadConfig({ HTTPS_KEY_FILE: "/etc/tls/tls.key" })).toThrow(together);
    expect(
      loadConfig({ HTTPS_CERT_FILE: "/etc/tls/tls.crt", HTTPS_KEY_FILE: "/etc/tls/tls.key" }),
    ).toMatchObject({ httpsCertFile: "/etc/tls/tls.crt", httpsKeyFile: "/etc/tls/tls.key" });
    expect(loadConfig({}).httpsCertFile).toBeUndefined();
  });

  it("verifies certificates on every connection unless told otherwise", () => {
    const config = loadConfig({});
    expect(config.mysqlTlsRejectUnauthorized).toBe(true);
    expect(config.redisTlsRejectUnauthorized).toBe(true);
    expect(config.kafkaSslRejectUnauthorized).toBe(true);
    expect(config.elasticsearchTlsRejectUnauthorized).toBe(true);
    expect(config.smtpTlsRejectUnauthorized).toBe(true);
    expect(config.paymentGatewayTlsRejectUnauthorized).toBe(true);
  });

  it("refuses in production every setting that switches verification off, in one message", () => {
    const insecure = {
      NODE_ENV: "production",
      MYSQL_TLS_REJECT_UNAUTHORIZED: "false",
      REDIS_TLS_REJECT_UNAUTHORIZED: "false",
      KAFKA_SSL_REJECT_UNAUTHORIZED: "false",
      ELASTICSEARCH_TLS_REJECT_UNAUTHORIZED: "false",
      SMTP_TLS_REJECT_UNAUTHORIZED: "false",
      PAYMENT_GATEWAY_TLS_REJECT_UNAUTHORIZED: "false",
    };
    let message = "";
    try {
      loadConfig(insecure);
    } catch (err) {
      message = (err as Error).message;
    }
    for (const name of Object.keys(insecure).filter((k) => k !== "NODE_ENV"))
      expect(message).toContain(`${name}=false: certificate verification cannot be switched off`);
  });

  it("refuses in production Node's global switch and MongoDB's URL options that skip verification", () => {
    expect(() => loadConfig({ NODE_ENV: "production", NODE_TLS_REJECT_UNAUTHORIZED: "0" })).toThrow(
      /NODE_TLS_REJECT_UNAUTHORIZED=0/,
    );
    expect(() =>
      loadConfig({
        NODE_ENV: "production",
        MONGO_URL: "mongodb://db1:27017,db2:27017/shop?tls=true&tlsAllowInvalidCertificates=true",
      }),
    ).toThrow(/MONGO_URL tlsAllowInvalidCertificates=true/);
    expect(() =>
      loadConfig({ NODE_ENV: "production", MONGO_URL: "mongodb://db/shop?tls=true&tlsCAFile=/ca" }),
    ).not.toThrow();
  });

  it("lets development switch verification off", () => {
    const config = loadConfig({
      NODE_ENV: "development",
      REDIS_TLS_REJECT_UNAUTHORIZED: "false",
      NODE_TLS_REJECT_UNAUTHORIZED: "0",
    });
    expect(config.redisTlsRejectUnauthorized).toBe(false);
  });

  it("refuses a CA file for a connection that does not use TLS, instead of running in plain text", () => {
    expect(() =>
      loadConfig({ REDIS_URL: "redis://cache:6379", REDIS_TLS_CA_FILE: caFile }),
    ).toThrow(/REDIS_TLS_CA_FILE is set but no Redis URL uses rediss:\/\//);
    expect(() => loadConfig({ MYSQL_URL: "mysql://db/shop", MYSQL_TLS_CA_FILE: caFile })).toThrow(
      /MYSQL_TLS_CA_FILE is set but MYSQL_TLS is not on/,
    );
    expect(() => loadConfig({ KAFKA_SSL_CA_FILE: caFile })).toThrow(
      /KAFKA_SSL_CA_FILE is set but KAFKA_SSL is not true/,
    );
    expect(() => loadConfig({ MYSQL_TLS: "yes" })).toThrow(/MYSQL_TLS must be one of off, on/);
  });

  it("names the setting when a certificate file cannot be used", () => {
    const notPem = path.join(dir, "not.pem");
    fs.writeFileSync(notPem, "hello");
    const config = loadConfig({
      HTTPS_CERT_FILE: path.join(dir, "missing.crt"),
      HTTPS_KEY_FILE: notPem,
    });
    expect(() => httpsServerOptions(config)).toThrow(
      `HTTPS_CERT_FILE: cannot read ${path.join(dir, "missing.crt")} (ENOENT)`,
    );
    const redis = loadConfig({ REDIS_URL: "rediss://cache:6380", REDIS_TLS_CA_FILE: notPem });
    expect(() => redisConnectionOptions(redis, "rediss://cache:6380")).toThrow(
      `REDIS_TLS_CA_FILE: ${notPem} is not a PEM file`,
    );
  });

  describe("client options", () => {
    it("Redis: rediss:// turns TLS on with verification, the CA file is trusted", () => {
      const plain = loadConfig({});
      expect(redisConnectionOptions(plain, "redis://app:p%40ss@cache:6380/2")).toEqual({
        host: "cache",
        port: 6380,
        username: "app",
        password: "p@ss",
        db: 2,
      });
      expect(redisConnectionOptions(plain, "rediss://cache").tls).toEqual({
        rejectUnauthorized: true,
      });
      const withCa = loadConfig({ REDIS_URL: "rediss://cache", REDIS_TLS_CA_FILE: caFile });
      expect(redisConnectionOptions(withCa, "rediss://cache").tls).toEqual({
        rejectUnauthorized: true,
        ca: CA_PEM,
      });
    });

    it("MySQL: MYSQL_TLS=on requires TLS and verifies the certificate and the host name", () => {
      expect(mysqlSslOptions(loadConfig({}))).toBeUndefined();
      expect(mysqlSslOptions(loadConfig({ MYSQL_TLS: "on" }))).toEqual({
        rejectUnauthorized: true,
        verifyIdentity: true,
      });
    });

    it("NATS: tls:// or NATS_TLS_CA_FILE require TLS", () => {
      expect(natsTlsOptions(loadConfig({}), "nats://n1:4222")).toBeUndefined();
      expect(natsTlsOptions(loadConfig({}), "tls://n1:4222,tls://n2:4222")).toEqual({});
      expect(natsTlsOptions(loadConfig({ NATS_TLS_CA_FILE: caFile }), "nats://n1:4222")).toEqual({
        ca: CA_PEM,
      });
    });

    it("the transporter gets the TLS of its kind of server, and SASL for Kafka", () => {
      expect(transporterOptions(loadConfig({}))).toBeNull();
      expect(transporterOptions(loadConfig({ TRANSPORTER: "tcp" }))).toBe("tcp");
      expect(transporterOptions(loadConfig({ TRANSPORTER: "rediss://bus:6380" }))).toEqual({
        type: "Redis",
        options: {
          host: "bus",
          port: 6380,
          tls: { rejectUnauthorized: true },
          Connector: TlsSocketErrorGuard,
        },
      });
      expect(transporterOptions(loadConfig({ TRANSPORTER: "tls://bus:4222" }))).toEqual({
        type: "NATS",
        options: { url: "tls://bus:4222", tls: {} },
      });
      const kafka = loadConfig({
        TRANSPORTER: "kafka://k1:9093,k2:9093",
        KAFKA_SSL: "true",
        KAFKA_SSL_CA_FILE: caFile,
        KAFKA_SASL_MECHANISM: "scram-sha-512",
        KAFKA_SASL_USERNAME: "svc",
        KAFKA_SASL_PASSWORD: "pw",
      });
      const connection = {
        tls: { rejectUnauthorized: true, ca: CA_PEM },
        sasl: { mechanism: "SCRAM-SHA-512", username: "svc", password: "pw" },
      };
      expect(transporterOptions(kafka)).toEqual({
        type: "Kafka",
        options: {
          bootstrapBrokers: ["k1:9093", "k2:9093"],
          producer: connection,
          consumer: connection,
          admin: connection,
        },
      });
    });
  });
});
