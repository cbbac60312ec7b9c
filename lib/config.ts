/**
 * Configuration: every key has a doc, a parser, a default and its env var.
 * Read once per node from the environment and validated at start. Secrets
 * have no default here; see lib/secrets.ts for how they are provided.
 */

type Parser<T> = (raw: string, name: string) => T;

interface KeySpec<T> {
  env: string;
  doc: string;
  parse: Parser<T>;
  default: T;
}

const str: Parser<string> = (raw) => raw;
const optionalStr: Parser<string | undefined> = (raw) => (raw === "" ? undefined : raw);
const int: Parser<number> = (raw, name) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
};
const optionalInt: Parser<number | undefined> = (raw, name) => int(raw, name);
/** A 256-bit key written as 64 hex digits (`openssl rand -hex 32`). */
const optionalHexKey: Parser<string | undefined> = (raw, name) => {
  if (!/^[0-9a-fA-F]{64}$/.test(raw))
    throw new Error(`${name} must be 64 hexadecimal digits (openssl rand -hex 32)`);
  return raw.toLowerCase();
};
const fraction: Parser<number> = (raw, name) => {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new Error(`${name} must be a number from 0 to 1, got "${raw}"`);
  return n;
};
/** An ISO 4217 code: three upper-case letters. */
const currencyCode: Parser<string> = (raw, name) => {
  if (!/^[A-Z]{3}$/.test(raw))
    throw new Error(`${name} must be an ISO 4217 code (three upper-case letters), got "${raw}"`);
  return raw;
};
const list: Parser<string[]> = (raw) =>
  raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw, name) => {
    if (!values.includes(raw as T)) throw new Error(`${name} must be one of ${values.join(", ")}`);
    return raw as T;
  };

function key<T>(env: string, doc: string, parse: Parser<T>, def: T): KeySpec<T> {
  return { env, doc, parse, default: def };
}

/** The documented keys. README's configuration table is generated from this list. */
export const CONFIG_KEYS = {
  nodeEnv: key(
    "NODE_ENV",
    "development, test or production. Production refuses to start without configured secrets.",
    oneOf("development", "test", "production"),
    "development",
  ),
  port: key("PORT", "HTTP port of the API gateway.", int, 3000),
  host: key("HOST", "Interface the gateway listens on.", str, "0.0.0.0"),
  httpsCertFile: key(
    "HTTPS_CERT_FILE",
    "PEM certificate (followed by any intermediate certificates) of the gateway; with HTTPS_KEY_FILE the gateway serves HTTPS only on PORT. Unset: plain HTTP (e.g. behind a TLS-terminating Ingress).",
    optionalStr,
    undefined as string | undefined,
  ),
  httpsKeyFile: key(
    "HTTPS_KEY_FILE",
    "PEM private key of HTTPS_CERT_FILE (set both or neither).",
    optionalStr,
    undefined as string | undefined,
  ),
  logLevel: key(
    "LOG_LEVEL",
    "trace, debug, info, warn, error or fatal.",
    oneOf("trace", "debug", "info", "warn", "error", "fatal"),
    "info",
  ),
  logFormat: key(
    "LOG_FORMAT",
    "json (one JSON object per line) or text. Unset: json in production, text elsewhere.",
    optionalStr,
    undefined as string | undefined,
  ),
  dataDir: key(
    "DATA_DIR",
    "Where embedded adapters keep their files (SQLite databases, generated keys, mail).",
    str,
    "./data",
  ),
  nodeId: key(
    "NODE_ID",
    "Moleculer node id. Unset: hostname and pid.",
    optionalStr,
    undefined as string | undefined,
  ),
  tracingExporter: key(
    "TRACING_EXPORTER",
    "none, console or jaeger: where Moleculer's tracer sends spans (jaeger: Moleculer's built-in Jaeger exporter, to JAEGER_ENDPOINT).",
    oneOf("none", "console", "jaeger"),
    "none",
  ),
  jaegerEndpoint: key(
    "JAEGER_ENDPOINT",
    "Jaeger collector's HTTP endpoint (http://jaeger:14268/api/traces), or udp://host:6832 for an agent.",
    str,
    "http://localhost:14268/api/traces",
  ),
  tracingSampleRate: key(
    "TRACING_SAMPLE_RATE",
    "Share of new traces recorded, 0 to 1; a message or call joins its trace's decision.",
    fraction,
    1,
  ),
  metricsPort: key(
    "METRICS_PORT",
    "Port of the Prometheus endpoint (Moleculer's metrics and the business metrics). Unset: metrics off; 0: any free port.",
    optionalInt,
    undefined as number | undefined,
  ),
  metricsPath: key("METRICS_PATH", "Path of the Prometheus endpoint.", str, "/metrics"),
  metricsSampleIntervalMs: key(
    "METRICS_SAMPLE_INTERVAL_MS",
    "How often gauges read from storage (outbox backlog, queue depths, dead letters) are refreshed.",
    int,
    5000,
  ),

  mysqlUrl: key(
    "MYSQL_URL",
    "mysql://user:pass@host:3306/db for every service's relational data. Unset: one SQLite file per service under DATA_DIR. `<SERVICE>_MYSQL_URL` (e.g. USERS_MYSQL_URL) gives a service a database of its own.",
    optionalStr,
    undefined as string | undefined,
  ),
  mysqlTls: key(
    "MYSQL_TLS",
    "on: every MySQL/MariaDB connection uses TLS (refused if the server does not offer it), with the certificate and host name verified.",
    oneOf("off", "on"),
    "off",
  ),
  mysqlTlsCaFile: key(
    "MYSQL_TLS_CA_FILE",
    "PEM file of the CA that signed the MySQL server certificate (MYSQL_TLS=on). Unset: the system CAs.",
    optionalStr,
    undefined as string | undefined,
  ),
  mysqlTlsRejectUnauthorized: key(
    "MYSQL_TLS_REJECT_UNAUTHORIZED",
    "false accepts a MySQL server certificate that does not verify (never in production).",
    (raw, name) => oneOf("true", "false")(raw, name) === "true",
    true,
  ),
  sqliteStorage: key(
    "SQLITE_STORAGE",
    "Embedded relational storage: a directory (one file per service) or :memory:.",
    optionalStr,
    undefined as string | undefined,
  ),
  redisUrl: key(
    "REDIS_URL",
    "redis://host:6379/0 (rediss:// for TLS) for cache, key-value (idempotency, rate limits, locks) and BullMQ queues. Unset: in-process stores and queues.",
    optionalStr,
    undefined as string | undefined,
  ),
  redisPrefix: key(
    "REDIS_PREFIX",
    "Prefix for every Redis key this deployment writes.",
    str,
    "mc:",
  ),
  redisTlsCaFile: key(
    "REDIS_TLS_CA_FILE",
    "PEM file of the CA that signed the Redis server certificate, for every rediss:// URL (REDIS_URL, CHANNELS_URL, TRANSPORTER). Unset: the system CAs.",
    optionalStr,
    undefined as string | undefined,
  ),
  redisTlsRejectUnauthorized: key(
    "REDIS_TLS_REJECT_UNAUTHORIZED",
    "false accepts a Redis server certificate that does not verify (never in production).",
    (raw, name) => oneOf("true", "false")(raw, name) === "true",
    true,
  ),
  channelsUrl: key(
    "CHANNELS_URL",
    "Durable messaging: kafka://host:9092, redis://host:6379 (rediss:// for TLS), nats://host:4222 (tls:// for TLS). Unset: in-process channels.",
    optionalStr,
    undefined as string | undefined,
  ),
  channelsMaxRetries: key(
    "CHANNELS_MAX_RETRIES",
    "Attempts before a message goes to <topic>.dlq.",
    int,
    3,
  ),
  transporter: key(
    "TRANSPORTER",
    "Moleculer transporter between nodes (kafka://, nats:// or tls://, redis:// or rediss://, tcp). Unset: single node.",
    optionalStr,
    undefined as string | undefined,
  ),
  natsTlsCaFile: key(
    "NATS_TLS_CA_FILE",
    "PEM file of the CA that signed the NATS server certificate; setting it requires TLS on the NATS connections of TRANSPORTER and CHANNELS_URL, as tls:// URLs do. Unset: tls:// verifies against the system CAs.",
    optionalStr,
    undefined as string | undefined,
  ),

  jwtPrivateKey: key(
    "JWT_PRIVATE_KEY",
    "PEM (EC P-256) private key that signs access tokens. Required in production; otherwise generated into DATA_DIR on first start.",
    optionalStr,
    undefined as string | undefined,
  ),
  jwtPublicKey: key(
    "JWT_PUBLIC_KEY",
    "PEM public key(s) that verify access tokens (the gateway needs only these): several PEM blocks in a row while a new signing key replaces the old. A node with JWT_PRIVATE_KEY trusts that key's own too.",
    optionalStr,
    undefined as string | undefined,
  ),
  jwtIssuer: key(
    "JWT_ISSUER",
    "`iss` of access tokens; checked on every request.",
    str,
    "moleculer-commerce",
  ),
  jwtAudience: key(
    "JWT_AUDIENCE",
    "`aud` of access tokens; checked on every request.",
    str,
    "moleculer-commerce-api",
  ),
  accessTokenTtlSec: key(
    "ACCESS_TOKEN_TTL",
    "Access token lifetime in seconds (at most 900).",
    int,
    900,
  ),
  refreshTokenTtlSec: key(
    "REFRESH_TOKEN_TTL",
    "Refresh token lifetime in seconds.",
    int,
    30 * 24 * 3600,
  ),
  passwordResetTtlSec: key(
    "PASSWORD_RESET_TTL",
    "Password reset token lifetime in seconds (at most 1800).",
    int,
    1800,
  ),
  passwordResetUrl: key(
    "PASSWORD_RESET_URL",
    "Link base put in reset emails; the token is appended as ?token=.",
    str,
    "http://localhost:3000/reset-password",
  ),
  messageSealingKey: key(
    "MESSAGE_SEALING_KEY",
    "Key (64 hex digits) sealing secrets that messages carry, such as reset links; the same on every users and notifications node. Required in production; otherwise generated into DATA_DIR on first start.",
    optionalHexKey,
    undefined as string | undefined,
  ),
  loginMaxFailures: key(
    "LOGIN_MAX_FAILURES",
    "Failed logins per account within LOGIN_FAILURE_WINDOW before 429.",
    int,
    10,
  ),
  loginFailureWindowSec: key(
    "LOGIN_FAILURE_WINDOW",
    "Window of the login failure counter, in seconds.",
    int,
    900,
  ),
  adminEmail: key(
    "ADMIN_EMAIL",
    "With ADMIN_PASSWORD: an admin account created (or promoted) at start.",
    optionalStr,
    undefined as string | undefined,
  ),
  adminPassword: key(
    "ADMIN_PASSWORD",
    "Password of that admin account (no default).",
    optionalStr,
    undefined as string | undefined,
  ),

  rateLimitWindowMs: key("RATE_LIMIT_WINDOW_MS", "Rate-limit window in milliseconds.", int, 60_000),
  rateLimitMax: key(
    "RATE_LIMIT_MAX",
    "Requests per client per window on /api/v1 (0 disables).",
    int,
    600,
  ),
  authRateLimitMax: key(
    "AUTH_RATE_LIMIT_MAX",
    "Requests per client per window on /api/v1/auth/*.",
    int,
    60,
  ),
  trustProxy: key(
    "TRUST_PROXY",
    "Comma-separated proxy addresses whose X-Forwarded-For is believed. Unset: the socket address is the client.",
    list,
    [] as string[],
  ),
  corsOrigins: key(
    "CORS_ORIGINS",
    "Comma-separated allowed origins, or * . Unset: no CORS headers.",
    list,
    [] as string[],
  ),
  bodyLimit: key(
    "BODY_LIMIT",
    "Largest accepted request body (bytes, or e.g. 100kb); larger gets 413.",
    str,
    "100kb",
  ),

  outboxSweepIntervalMs: key(
    "OUTBOX_SWEEP_INTERVAL_MS",
    "How often the outbox sweeper looks for unpublished rows.",
    int,
    2000,
  ),
  outboxSweepAgeMs: key(
    "OUTBOX_SWEEP_AGE_MS",
    "Age after which an unpublished outbox row is republished by the sweeper; also how long a node's relay holds the rows it writes or claims.",
    int,
    3000,
  ),

  channelsPrefix: key(
    "CHANNELS_PREFIX",
    "Namespace of every channel name on the wire (`<prefix>.orders.events`); deployments or test runs sharing a server use different ones.",
    str,
    "commerce",
  ),
  channelsAckWaitMs: key(
    "CHANNELS_ACK_WAIT_MS",
    "Redis Streams and NATS: a delivered message not acknowledged within this time is delivered again (on Redis also the delay before a failed message is retried). Keep it above the slowest handler.",
    int,
    30_000,
  ),
  channelsPollIntervalMs: key(
    "CHANNELS_POLL_INTERVAL_MS",
    "Redis Streams: how often pending messages are checked for redelivery and for moving to <topic>.dlq.",
    int,
    1000,
  ),
  kafkaSsl: key(
    "KAFKA_SSL",
    "true: connect to the Kafka brokers of CHANNELS_URL and TRANSPORTER over TLS.",
    (raw, name) => oneOf("true", "false")(raw, name) === "true",
    false,
  ),
  kafkaSslRejectUnauthorized: key(
    "KAFKA_SSL_REJECT_UNAUTHORIZED",
    "false accepts a Kafka broker certificate that does not verify (never in production).",
    (raw, name) => oneOf("true", "false")(raw, name) === "true",
    true,
  ),
  kafkaSslCaFile: key(
    "KAFKA_SSL_CA_FILE",
    "PEM file of the CA that signed the Kafka broker certificates (KAFKA_SSL=true). Unset: the system CAs.",
    optionalStr,
    undefined as string | undefined,
  ),
  kafkaSaslMechanism: key(
    "KAFKA_SASL_MECHANISM",
    "plain, scram-sha-256 or scram-sha-512 to authenticate to Kafka with KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD. Unset: no SASL.",
    oneOf("plain", "scram-sha-256", "scram-sha-512"),
    undefined as "plain" | "scram-sha-256" | "scram-sha-512" | undefined,
  ),
  kafkaSaslUsername: key(
    "KAFKA_SASL_USERNAME",
    "Kafka SASL user name.",
    optionalStr,
    undefined as string | undefined,
  ),
  kafkaSaslPassword: key(
    "KAFKA_SASL_PASSWORD",
    "Kafka SASL password (no default).",
    optionalStr,
    undefined as string | undefined,
  ),

  reservationTtlSec: key(
    "RESERVATION_TTL_SEC",
    "Seconds a stock reservation stays RESERVED before the sweeper releases it (reason EXPIRED).",
    int,
    900,
  ),
  reservationSweepIntervalMs: key(
    "RESERVATION_SWEEP_INTERVAL_MS",
    "How often each inventory node looks for expired reservations (0 disables the sweeper).",
    int,
    10_000,
  ),

  elasticsearchUrl: key(
    "ELASTICSEARCH_URL",
    "http(s)://[user:pass@]host:9200 of the Elasticsearch cluster for product search. Unset: an in-process MiniSearch index on each search node, rebuilt from the catalog at start.",
    optionalStr,
    undefined as string | undefined,
  ),
  elasticsearchIndex: key(
    "ELASTICSEARCH_INDEX",
    "Name of the product search index (or alias); created with its mappings when missing.",
    str,
    "products",
  ),
  elasticsearchApiKey: key(
    "ELASTICSEARCH_API_KEY",
    "Elasticsearch API key (base64 id:key), instead of credentials in ELASTICSEARCH_URL (no default).",
    optionalStr,
    undefined as string | undefined,
  ),
  elasticsearchCaFile: key(
    "ELASTICSEARCH_CA_FILE",
    "PEM file of the CA that signed the Elasticsearch certificate (https:// URLs). Unset: the system CAs.",
    optionalStr,
    undefined as string | undefined,
  ),
  elasticsearchTlsRejectUnauthorized: key(
    "ELASTICSEARCH_TLS_REJECT_UNAUTHORIZED",
    "false accepts an Elasticsearch certificate that does not verify (never in production).",
    (raw, name) => oneOf("true", "false")(raw, name) === "true",
    true,
  ),
  mongoUrl: key(
    "MONGO_URL",
    "mongodb://[user:pass@]host:27017/commerce of the cart store (TLS with ?tls=true&tlsCAFile=…). Unset: an in-process document store (moleculer-db memory adapter), lost on restart.",
    optionalStr,
    undefined as string | undefined,
  ),
  cartCacheTtlSec: key(
    "CART_CACHE_TTL_SEC",
    "Seconds a cart document stays in the read cache (Redis when REDIS_URL is set); every change drops it at once.",
    int,
    300,
  ),
  cartGuestTtlSec: key(
    "CART_GUEST_TTL_SEC",
    "Seconds after its last change that an abandoned guest cart expires.",
    int,
    7 * 24 * 3600,
  ),
  shopCurrency: key(
    "SHOP_CURRENCY",
    "The shop's currency (ISO 4217): an empty cart's zero subtotal is in it, and `npm run seed` prices the demo catalog in it.",
    currencyCode,
    "EUR",
  ),
  cartMaxLines: key("CART_MAX_LINES", "Most distinct products in one cart.", int, 100),
  cartMaxQuantity: key("CART_MAX_QUANTITY", "Most units of one product in one cart line.", int, 99),
  cartSweepIntervalMs: key(
    "CART_SWEEP_INTERVAL_MS",
    "How often each cart node marks guest carts past CART_GUEST_TTL_SEC as expired (0 disables the sweeper; reads refuse them anyway).",
    int,
    5 * 60_000,
  ),
  orderPaymentTimeoutSec: key(
    "ORDER_PAYMENT_TIMEOUT_SEC",
    "Seconds an order may wait for its payment before it is cancelled (PAYMENT_TIMEOUT) and its stock released. Keep it below RESERVATION_TTL_SEC.",
    int,
    600,
  ),
  idempotencyTtlSec: key(
    "IDEMPOTENCY_TTL_SEC",
    "Seconds an Idempotency-Key of POST /orders is remembered (per user).",
    int,
    24 * 3600,
  ),
  paymentGatewayUrl: key(
    "PAYMENT_GATEWAY_URL",
    "Base URL of the Stripe-like payment provider. Unset: the bundled sandbox provider, started by the all-in-one node.",
    optionalStr,
    undefined as string | undefined,
  ),
  paymentGatewayApiKey: key(
    "PAYMENT_GATEWAY_API_KEY",
    "Secret API key sent to the payment provider (Bearer). Required in production; outside it the sandbox key is generated.",
    optionalStr,
    undefined as string | undefined,
  ),
  paymentWebhookSecret: key(
    "PAYMENT_WEBHOOK_SECRET",
    "Shared secret that signs the provider's webhooks (HMAC-SHA256). Required in production; outside it a development secret is generated under DATA_DIR.",
    optionalStr,
    undefined as string | undefined,
  ),
  paymentGatewayTimeoutMs: key(
    "PAYMENT_GATEWAY_TIMEOUT_MS",
    "Timeout of one call to the payment provider, in milliseconds.",
    int,
    5000,
  ),
  paymentGatewayRetries: key(
    "PAYMENT_GATEWAY_RETRIES",
    "Retries of a provider call after a network error or a 5xx (exponential backoff, same idempotency key).",
    int,
    3,
  ),
  paymentGatewayTlsRejectUnauthorized: key(
    "PAYMENT_GATEWAY_TLS_REJECT_UNAUTHORIZED",
    "false accepts a payment provider certificate that does not verify (never in production).",
    (raw, name) => oneOf("true", "false")(raw, name) === "true",
    true,
  ),
  sandboxProviderPort: key(
    "SANDBOX_PROVIDER_PORT",
    "Port of the bundled sandbox payment provider (0: any free port) when PAYMENT_GATEWAY_URL is unset.",
    int,
    0,
  ),
  paymentWebhookUrl: key(
    "PAYMENT_WEBHOOK_URL",
    "Where the bundled sandbox provider sends its webhooks. Unset: http://127.0.0.1:<PORT>/api/v1/payments/webhooks/sandbox.",
    optionalStr,
    undefined as string | undefined,
  ),
  paymentGatewayBreakerThreshold: key(
    "PAYMENT_GATEWAY_BREAKER_THRESHOLD",
    "Failed provider requests (network errors, timeouts, 5xx) within a minute that open the payment provider's circuit breaker.",
    int,
    5,
  ),
  paymentGatewayBreakerCooldownMs: key(
    "PAYMENT_GATEWAY_BREAKER_COOLDOWN_MS",
    "How long the payment provider's circuit stays open (calls refused at once) before a trial request.",
    int,
    30_000,
  ),
  paymentChargeRetryDelayMs: key(
    "PAYMENT_CHARGE_RETRY_DELAY_MS",
    "First delay before a charge whose outcome is unknown (timeout, 5xx, open circuit) is sent again with the same idempotency key; doubles each time, up to 5 minutes.",
    int,
    5000,
  ),
  paymentWebhookAttempts: key(
    "PAYMENT_WEBHOOK_ATTEMPTS",
    "Attempts to process a queued provider webhook before it is kept as a failed job.",
    int,
    8,
  ),
  paymentWebhookBackoffMs: key(
    "PAYMENT_WEBHOOK_BACKOFF_MS",
    "First retry delay of a provider webhook that failed to process; doubles on each further attempt.",
    int,
    1000,
  ),
  smtpUrl: key(
    "SMTP_URL",
    "smtp://user:pass@host:587 (STARTTLS when offered) or smtps://user:pass@host:465 for notification emails. Unset: each email is written as a .eml file under DATA_DIR/outbox-mail.",
    optionalStr,
    undefined as string | undefined,
  ),
  smtpFrom: key("SMTP_FROM", "Sender of notification emails.", str, "Shop <no-reply@shop.local>"),
  smtpTlsRejectUnauthorized: key(
    "SMTP_TLS_REJECT_UNAUTHORIZED",
    "false accepts an SMTP server certificate that does not verify (never in production).",
    (raw, name) => oneOf("true", "false")(raw, name) === "true",
    true,
  ),
  smsUrl: key(
    "SMS_URL",
    "Endpoint of the HTTP SMS provider (POST JSON {to, text}, Bearer SMS_API_KEY). Unset: text messages are written to the log.",
    optionalStr,
    undefined as string | undefined,
  ),
  smsApiKey: key(
    "SMS_API_KEY",
    "Bearer token of the SMS provider (no default).",
    optionalStr,
    undefined as string | undefined,
  ),
  notificationMaxAttempts: key(
    "NOTIFICATION_MAX_ATTEMPTS",
    "Send attempts of one notification (the first included) before it is kept as failed.",
    int,
    5,
  ),
  notificationConcurrency: key(
    "NOTIFICATION_CONCURRENCY",
    "Notifications one node sends at once (each send mostly waits on the mail or SMS server).",
    int,
    16,
  ),
  notificationBackoffMs: key(
    "NOTIFICATION_BACKOFF_MS",
    "Delay before the first retry of a notification send; doubles on each further attempt.",
    int,
    1000,
  ),
  notificationSweepIntervalMs: key(
    "NOTIFICATION_SWEEP_INTERVAL_MS",
    "How often each notifications node puts back on the queue notifications recorded but never picked up (0 disables).",
    int,
    10_000,
  ),
  notificationSweepAgeMs: key(
    "NOTIFICATION_SWEEP_AGE_MS",
    "Age after which a notification still waiting to be picked up is put on the queue again (a no-op when its job is there).",
    int,
    30_000,
  ),
} as const;

type Keys = typeof CONFIG_KEYS;
export type Config = { [K in keyof Keys]: Keys[K] extends KeySpec<infer T> ? T : never };

/** Parses the environment into a Config; throws one error listing every bad key. */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Config> = {},
): Config {
  const errors: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(CONFIG_KEYS) as [string, KeySpec<unknown>][]) {
    const raw = env[spec.env];
    if (raw === undefined || raw === "") {
      out[name] = spec.default;
      continue;
    }
    try {
      out[name] = spec.parse(raw, spec.env);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  if (errors.length) throw new Error(`Invalid configuration:\n  ${errors.join("\n  ")}`);
  const config = { ...(out as Config), ...overrides };
  if (config.accessTokenTtlSec > 900 || config.accessTokenTtlSec < 1) {
    throw new Error("Invalid configuration: ACCESS_TOKEN_TTL must be between 1 and 900 seconds");
  }
  if (config.passwordResetTtlSec > 1800 || config.passwordResetTtlSec < 1) {
    throw new Error("Invalid configuration: PASSWORD_RESET_TTL must be between 1 and 1800 seconds");
  }
  const tlsErrors = tlsRuleErrors(config, env);
  if (tlsErrors.length) throw new Error(`Invalid configuration:\n  ${tlsErrors.join("\n  ")}`);
  return config;
}

/** MongoDB URL options that switch certificate or host name verification off. */
const INSECURE_MONGO_OPTIONS = [
  "tlsInsecure",
  "tlsAllowInvalidCertificates",
  "tlsAllowInvalidHostnames",
];

/**
 * TLS settings that contradict each other, and, in production, any setting that
 * turns certificate verification off: a CA file is the way to trust a private
 * CA, and a half-configured TLS must not quietly fall back to plain text.
 */
function tlsRuleErrors(config: Config, env: NodeJS.ProcessEnv): string[] {
  const errors: string[] = [];
  if (!config.httpsCertFile !== !config.httpsKeyFile)
    errors.push(
      "HTTPS_CERT_FILE and HTTPS_KEY_FILE go together: set both (HTTPS) or neither (HTTP)",
    );
  const redisUrls = [config.redisUrl, config.channelsUrl, config.transporter];
  if (config.redisTlsCaFile && !redisUrls.some((url) => url?.startsWith("rediss://")))
    errors.push("REDIS_TLS_CA_FILE is set but no Redis URL uses rediss:// (TLS)");
  if (config.mysqlTlsCaFile && config.mysqlTls !== "on")
    errors.push("MYSQL_TLS_CA_FILE is set but MYSQL_TLS is not on");
  if (config.kafkaSslCaFile && !config.kafkaSsl)
    errors.push("KAFKA_SSL_CA_FILE is set but KAFKA_SSL is not true");
  if (config.nodeEnv !== "production") return errors;

  const production = "certificate verification cannot be switched off in production";
  for (const [name, spec] of Object.entries(CONFIG_KEYS) as [keyof Config, KeySpec<unknown>][]) {
    if (spec.env.endsWith("_REJECT_UNAUTHORIZED") && config[name] === false)
      errors.push(
        `${spec.env}=false: ${production} (trust a private CA with a *_CA_FILE setting or NODE_EXTRA_CA_CERTS)`,
      );
  }
  if (env.NODE_TLS_REJECT_UNAUTHORIZED === "0")
    errors.push(`NODE_TLS_REJECT_UNAUTHORIZED=0: ${production}`);
  const mongoOptions = config.mongoUrl ? mongoUrlOptions(config.mongoUrl) : new URLSearchParams();
  for (const option of INSECURE_MONGO_OPTIONS) {
    if (mongoOptions.get(option) === "true")
      errors.push(`MONGO_URL ${option}=true: ${production} (use tlsCAFile)`);
  }
  return errors;
}

/** The query of a MongoDB URL (read by hand: a multi-host URL is not a WHATWG URL). */
function mongoUrlOptions(url: string): URLSearchParams {
  const query = url.indexOf("?");
  return new URLSearchParams(query < 0 ? "" : url.slice(query + 1));
}

/** The relational URL a service uses: `<SERVICE>_MYSQL_URL`, else MYSQL_URL, else undefined (embedded). */
export function mysqlUrlFor(
  service: string,
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const own = env[`${service.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_MYSQL_URL`];
  return own || config.mysqlUrl;
}
