import path from "node:path";
import type { Logger, ServiceBroker } from "moleculer";
import { Config, mysqlUrlFor } from "../config";
import type { KeyValueStore } from "./kv/port";
import { MemoryKeyValueStore } from "./kv/memory";
import type { QueueFactory } from "./queue/port";
import { openDatabase, RelationalDatabase } from "./relational";
import { describeChannels } from "./channels/describe";
import { mysqlSslOptions, redisConnectionOptions } from "./tls";
import { loadSigningKeys, SigningKeys } from "../auth/keys";
import { loadMessageSealer, MessageSealer } from "../messaging/sealing";

/**
 * The node's infrastructure: one adapter per port, chosen from configuration
 * only (unset = embedded). Services reach it through `infrastructureOf(broker)`;
 * nothing else constructs clients.
 */
export interface PortStatus {
  port: string;
  adapter: string;
  target?: string;
  ok?: boolean;
}

export class Infrastructure {
  readonly kv: KeyValueStore;
  readonly queues: QueueFactory;
  private readonly databases = new Map<string, Promise<RelationalDatabase>>();
  /** Readiness probes of ports whose client a service owns (the search index, the cart store). */
  private readonly serviceProbes = new Map<string, () => Promise<boolean>>();
  private keys?: SigningKeys;
  private sealer?: MessageSealer;

  constructor(
    readonly config: Config,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.kv = createKeyValueStore(config);
    this.queues = createQueueFactory(config);
  }

  /** The service's own database, opened once per node. */
  database(service: string): Promise<RelationalDatabase> {
    let db = this.databases.get(service);
    if (!db) {
      const own = this.env[`${service.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_MYSQL_URL`];
      db = openDatabase(service, {
        mysqlUrl: mysqlUrlFor(service, this.config, this.env),
        perServiceDatabase: !own,
        mysqlSsl: mysqlSslOptions(this.config),
        sqliteStorage: this.config.sqliteStorage ?? path.join(this.config.dataDir, "db"),
      });
      db.catch(() => this.databases.delete(service));
      this.databases.set(service, db);
    }
    return db;
  }

  /** JWT keys, loaded (or generated outside production) on first use. */
  signingKeys(log?: (msg: string) => void): SigningKeys {
    this.keys ??= loadSigningKeys(this.config, log);
    return this.keys;
  }

  /** The message sealing key, loaded (or generated outside production) on first use. */
  messageSealer(log?: (msg: string) => void): MessageSealer {
    this.sealer ??= loadMessageSealer(this.config, log);
    return this.sealer;
  }

  /** One entry per port, naming the adapter in use (no credentials). */
  describe(): PortStatus[] {
    const c = this.config;
    return [
      {
        port: "relational",
        adapter: c.mysqlUrl ? "mysql" : "sqlite",
        target: c.mysqlUrl ? redact(c.mysqlUrl) : (c.sqliteStorage ?? path.join(c.dataDir, "db")),
      },
      {
        port: "kv",
        adapter: this.kv.adapter,
        target: c.redisUrl ? redact(c.redisUrl) : "in-process",
      },
      {
        port: "cache",
        adapter: c.redisUrl ? "redis" : "memory",
        target: c.redisUrl ? redact(c.redisUrl) : "in-process",
      },
      {
        port: "queue",
        adapter: this.queues.adapter,
        target: c.redisUrl ? redact(c.redisUrl) : "in-process",
      },
      describeChannels(c),
      {
        port: "transporter",
        // The server kind: rediss:// is Redis and tls:// is NATS, over TLS.
        adapter: c.transporter
          ? c.transporter
              .split(":")[0]
              .replace(/^rediss$/, "redis")
              .replace(/^tls$/, "nats")
          : "none",
        target: c.transporter ? redact(c.transporter) : "single node",
      },
      {
        port: "search",
        adapter: c.elasticsearchUrl ? "elasticsearch" : "minisearch",
        target: c.elasticsearchUrl ? redact(c.elasticsearchUrl) : "in-process",
      },
      {
        port: "carts",
        adapter: c.mongoUrl ? "mongodb" : "memory",
        target: c.mongoUrl ? redact(c.mongoUrl) : "in-process",
      },
    ];
  }

  /**
   * A service that owns a port's client (search owns its index) lets readiness
   * probe it; `undefined` removes the probe (the service stopped).
   */
  setProbe(port: string, probe: (() => Promise<boolean>) | undefined): void {
    if (probe) this.serviceProbes.set(port, probe);
    else this.serviceProbes.delete(port);
  }

  /** describe() plus whether each port answers now (readiness). */
  async check(): Promise<PortStatus[]> {
    const ports = this.describe();
    const probes: Record<string, () => Promise<boolean>> = {
      relational: async () => {
        const opened = [...this.databases.values()];
        if (!opened.length) return true;
        const results = await Promise.all(
          opened.map((p) => p.then((db) => db.ping()).catch(() => false)),
        );
        return results.every(Boolean);
      },
      kv: () => this.kv.ping(),
      cache: () => this.kv.ping(),
      queue: () => this.queues.ping(),
    };
    return Promise.all(
      ports.map(async (p) => {
        const probe = probes[p.port] ?? this.serviceProbes.get(p.port);
        return { ...p, ok: probe ? await withTimeout(probe(), 2000) : true };
      }),
    );
  }

  logPorts(logger: Logger): void {
    for (const p of this.describe()) logger.info(`port ${p.port}: ${p.adapter} (${p.target})`);
  }

  async close(): Promise<void> {
    const dbs = await Promise.allSettled([...this.databases.values()]);
    await Promise.allSettled([
      ...dbs.map((r) => (r.status === "fulfilled" ? r.value.close() : undefined)),
      this.queues.close(),
      this.kv.close(),
    ]);
    this.databases.clear();
  }
}

function createKeyValueStore(config: Config): KeyValueStore {
  if (!config.redisUrl) return new MemoryKeyValueStore();
  // Loaded only when configured, so the embedded node never loads ioredis.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { RedisKeyValueStore } = require("./kv/redis") as typeof import("./kv/redis");
  const connection = redisConnectionOptions(config, config.redisUrl);
  return new RedisKeyValueStore(connection, `${config.redisPrefix}kv:`);
}

function createQueueFactory(config: Config): QueueFactory {
  if (!config.redisUrl) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { MemoryQueueFactory } = require("./queue/memory") as typeof import("./queue/memory");
    return new MemoryQueueFactory();
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { BullMqQueueFactory } = require("./queue/bullmq") as typeof import("./queue/bullmq");
  return new BullMqQueueFactory(
    redisConnectionOptions(config, config.redisUrl),
    `${config.redisPrefix}q`,
  );
}

async function withTimeout(p: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.catch(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Drops credentials from a URL for logs and health output. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    if (u.username) u.username = u.username ? "***" : "";
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@");
  }
}

const registry = new WeakMap<ServiceBroker, Infrastructure>();

/** Binds an Infrastructure to a broker (done by the infrastructure middleware). */
export function attachInfrastructure(broker: ServiceBroker, infra: Infrastructure): void {
  registry.set(broker, infra);
}

export function infrastructureOf(broker: ServiceBroker): Infrastructure {
  const infra = registry.get(broker);
  if (!infra)
    throw new Error(
      "No infrastructure attached to this broker: build it with buildBrokerOptions()",
    );
  return infra;
}
