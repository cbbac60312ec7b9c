import type { Config } from "../../../lib/config";
import { CircuitBreaker } from "../../../lib/resilience/circuit-breaker";
import { createSandboxProvider, SandboxProvider } from "../sandbox/server";
import { HttpPaymentProvider } from "./http-client";
import { loadProviderSecrets } from "./secrets";

/**
 * The provider this node charges through. PAYMENT_GATEWAY_URL names it;
 * when it is unset (the all-in-one node) the bundled sandbox is started in
 * this process on SANDBOX_PROVIDER_PORT and used instead. Production
 * refuses the sandbox: it approves test tokens and moves no money.
 */
export const PROVIDER_NAME = "sandbox";
/** Failures counted by the breaker are those of the last minute. */
const BREAKER_WINDOW_MS = 60_000;

export interface ProviderSetup {
  provider: HttpPaymentProvider;
  webhookSecret: string;
  /** Base URL of the provider (no credentials). */
  url: string;
  /** Set when this process runs the sandbox. */
  sandbox?: SandboxProvider;
}

export interface SetupLog {
  info(message: string): void;
  warn(message: string): void;
}

export async function setUpProvider(config: Config, log: SetupLog): Promise<ProviderSetup> {
  if (!config.paymentGatewayUrl && config.nodeEnv === "production")
    throw new Error(
      "NODE_ENV=production needs PAYMENT_GATEWAY_URL (the bundled sandbox provider takes no real payments); refusing to start",
    );
  const { apiKey, webhookSecret } = loadProviderSecrets(config, (m) => log.warn(m));
  let url = config.paymentGatewayUrl;
  let sandbox: SandboxProvider | undefined;
  if (!url) {
    const webhookUrl = sandboxWebhookUrl(config);
    sandbox = createSandboxProvider({ apiKey, webhookSecret, webhookUrl, log: (m) => log.info(m) });
    url = await sandbox.listen(config.sandboxProviderPort, "127.0.0.1");
    log.info(
      `Payment provider: the bundled sandbox at ${url}, webhooks to ${webhookUrl ?? "nowhere yet (set PAYMENT_WEBHOOK_URL)"}`,
    );
  }
  const breaker = new CircuitBreaker({
    failureThreshold: Math.max(1, config.paymentGatewayBreakerThreshold),
    windowMs: BREAKER_WINDOW_MS,
    coolDownMs: config.paymentGatewayBreakerCooldownMs,
    onStateChange: (from, to) => log.warn(`Payment provider circuit ${from} → ${to}`),
  });
  const provider = new HttpPaymentProvider({
    name: PROVIDER_NAME,
    baseUrl: url,
    apiKey,
    timeoutMs: config.paymentGatewayTimeoutMs,
    retries: config.paymentGatewayRetries,
    breaker,
    tlsRejectUnauthorized: config.paymentGatewayTlsRejectUnauthorized,
  });
  return { provider, webhookSecret, url, sandbox };
}

/**
 * Where the sandbox sends webhooks: PAYMENT_WEBHOOK_URL, else this node's
 * gateway on loopback. With PORT=0 the gateway's port is not known here, so
 * there is no default; the endpoint can then be registered with the
 * sandbox's POST /v1/webhook_endpoints, as with any provider.
 */
export function sandboxWebhookUrl(config: Config): string | undefined {
  if (config.paymentWebhookUrl) return config.paymentWebhookUrl;
  // The gateway serves the API under /api/v1 (services/api/routes.ts).
  return config.port
    ? `http://127.0.0.1:${config.port}/api/v1/payments/webhooks/${PROVIDER_NAME}`
    : undefined;
}
