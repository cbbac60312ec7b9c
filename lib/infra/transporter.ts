import type { BrokerOptions } from "moleculer";
import type { Config } from "../config";
import { kafkaClientOptions } from "./channels";
import { natsTlsOptions, redisConnectionOptions } from "./tls";

/**
 * The broker's `transporter` option from TRANSPORTER, with the same TLS (and,
 * for Kafka, SASL) settings as the other connections to that kind of server.
 * Moleculer would take the URL as it is, but then without any TLS options.
 */
export function transporterOptions(config: Config): BrokerOptions["transporter"] {
  const url = config.transporter;
  if (!url) return null;
  switch (url.slice(0, url.indexOf(":"))) {
    case "redis":
    case "rediss":
      return { type: "Redis", options: redisConnectionOptions(config, url) };
    case "nats":
    case "tls": {
      const tls = natsTlsOptions(config, url);
      return { type: "NATS", options: tls ? { url, tls } : { url } };
    }
    case "kafka":
      return { type: "Kafka", options: kafkaTransporterOptions(config, url) };
    default:
      // tcp and the rest: resolved by Moleculer (the typings only list names, hence the cast).
      return url as BrokerOptions["transporter"];
  }
}

/** Moleculer's Kafka transporter (@platformatic/kafka): every broker, TLS and SASL on each client. */
function kafkaTransporterOptions(config: Config, url: string) {
  const { brokers, ssl, sasl } = kafkaClientOptions(config, url);
  const connection = {
    ...(ssl && { tls: ssl }),
    ...(sasl && { sasl: { ...sasl, mechanism: sasl.mechanism.toUpperCase() } }),
  };
  return {
    bootstrapBrokers: brokers,
    producer: connection,
    consumer: connection,
    admin: connection,
  };
}
