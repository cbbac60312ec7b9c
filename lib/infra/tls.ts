import fs from "node:fs";
import { createSecureContext, type ConnectionOptions } from "node:tls";
import type { RedisOptions } from "ioredis";
import type { Config } from "../config";
import { TlsSocketErrorGuard } from "./redis-tls-connector";

/**
 * TLS of every connection the node serves or opens (ARCHITECTURE §8), built
 * from configuration in one place so no client is left out: the gateway's
 * HTTPS server, and the client options of Redis (key-value, cache, queues,
 * Redis channels and transporter), MySQL, NATS and Kafka. Certificates are
 * verified unless a *_REJECT_UNAUTHORIZED key says false, which
 * lib/config.ts refuses in production. Files are read when the options are
 * built, that is at start, so a bad path stops the node at once.
 */

/** The contents of a PEM file named by a setting; a missing or unreadable file names the setting. */
export function readPemFile(setting: string, file: string): string {
  let pem: string;
  try {
    pem = fs.readFileSync(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new Error(`${setting}: cannot read ${file} (${reason})`);
  }
  if (!pem.includes("-----BEGIN "))
    throw new Error(`${setting}: ${file} is not a PEM file (no -----BEGIN line)`);
  return pem;
}

/** Client TLS: the server's certificate checked against the CA file (else the system CAs). */
function verifiedClientTls(
  caSetting: string,
  caFile: string | undefined,
  rejectUnauthorized: boolean,
): ConnectionOptions {
  const options: ConnectionOptions = { rejectUnauthorized };
  if (caFile) options.ca = readPemFile(caSetting, caFile);
  return options;
}

export interface HttpsServerOptions {
  cert: string;
  key: string;
}

/** moleculer-web's `https` setting: the certificate and key when both are configured, else plain HTTP. */
export function httpsServerOptions(config: Config): HttpsServerOptions | undefined {
  if (!config.httpsCertFile || !config.httpsKeyFile) return undefined;
  const options = {
    cert: readPemFile("HTTPS_CERT_FILE", config.httpsCertFile),
    key: readPemFile("HTTPS_KEY_FILE", config.httpsKeyFile),
  };
  try {
    // Fails now, naming the settings, rather than inside the server on the first handshake.
    createSecureContext(options);
  } catch (err) {
    throw new Error(`HTTPS_CERT_FILE / HTTPS_KEY_FILE: ${(err as Error).message}`);
  }
  return options;
}

/**
 * ioredis options for redis[s]://[user:pass@]host:port[/db]. Every Redis client
 * is built from these (the libraries that take a URL would drop the TLS
 * options), so rediss:// gets the same verification everywhere.
 */
export function redisConnectionOptions(config: Config, url: string): RedisOptions {
  const parsed = new URL(url);
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:")
    throw new Error(`Not a Redis URL (redis:// or rediss://): ${parsed.protocol}//${parsed.host}`);
  const options: RedisOptions = {
    host: parsed.hostname.replace(/^\[|\]$/g, ""),
    port: parsed.port ? Number(parsed.port) : 6379,
  };
  if (parsed.username || parsed.password) {
    options.username = decodeURIComponent(parsed.username) || undefined;
    options.password = decodeURIComponent(parsed.password);
  }
  const db = parsed.pathname.replace(/^\//, "");
  if (db) options.db = Number(db);
  // As ioredis reads it from a URL: names every connection in CLIENT LIST (operators, fault tests).
  const connectionName = parsed.searchParams.get("connectionName");
  if (connectionName) options.connectionName = connectionName;
  if (parsed.protocol === "rediss:") {
    options.tls = verifiedClientTls(
      "REDIS_TLS_CA_FILE",
      config.redisTlsCaFile,
      config.redisTlsRejectUnauthorized,
    );
    options.Connector = TlsSocketErrorGuard as unknown as RedisOptions["Connector"];
  }
  return options;
}

/** mysql2's `ssl` option (MYSQL_TLS=on): TLS required, certificate and host name verified. */
export function mysqlSslOptions(
  config: Config,
): (ConnectionOptions & { verifyIdentity: boolean }) | undefined {
  if (config.mysqlTls !== "on") return undefined;
  const rejectUnauthorized = config.mysqlTlsRejectUnauthorized;
  return {
    ...verifiedClientTls("MYSQL_TLS_CA_FILE", config.mysqlTlsCaFile, rejectUnauthorized),
    // mysql2 checks the host name only when asked to.
    verifyIdentity: rejectUnauthorized,
  };
}

/**
 * The nats client's `tls` option for a NATS URL list: set (TLS required)
 * when a URL is tls:// or NATS_TLS_CA_FILE is given; otherwise undefined, and
 * the client still upgrades when the server requires TLS.
 */
export function natsTlsOptions(config: Config, url: string): { ca?: string } | undefined {
  const tlsUrl = url.split(",").some((entry) => entry.trim().startsWith("tls://"));
  if (!tlsUrl && !config.natsTlsCaFile) return undefined;
  return config.natsTlsCaFile ? { ca: readPemFile("NATS_TLS_CA_FILE", config.natsTlsCaFile) } : {};
}

/** Node TLS options for the Kafka brokers when KAFKA_SSL=true. */
export function kafkaTlsOptions(config: Config): ConnectionOptions | undefined {
  if (!config.kafkaSsl) return undefined;
  return verifiedClientTls(
    "KAFKA_SSL_CA_FILE",
    config.kafkaSslCaFile,
    config.kafkaSslRejectUnauthorized,
  );
}
