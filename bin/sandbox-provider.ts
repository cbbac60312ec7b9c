/**
 * Runs the sandbox payment provider on its own (`npm run sandbox`), the way
 * a split deployment or a developer reaches it: point the payments nodes at
 * it with PAYMENT_GATEWAY_URL. It listens on SANDBOX_PROVIDER_PORT (0: any
 * free port) on HOST, takes its API key and webhook secret like the payments
 * service does (configured, or generated once under DATA_DIR), and sends
 * webhooks to PAYMENT_WEBHOOK_URL (default: the gateway on PORT).
 */
import { loadConfig } from "../lib/config";
import { loadProviderSecrets } from "../services/payments/provider/secrets";
import { sandboxWebhookUrl } from "../services/payments/provider/setup";
import { createSandboxProvider } from "../services/payments/sandbox/server";

/* eslint-disable no-console -- a command-line runner reports on stdout */
async function main(): Promise<void> {
  const config = loadConfig();
  const { apiKey, webhookSecret } = loadProviderSecrets(config, (m) => console.warn(m));
  const webhookUrl = sandboxWebhookUrl(config);
  const sandbox = createSandboxProvider({
    apiKey,
    webhookSecret,
    webhookUrl,
    log: (m) => console.log(m),
  });
  const url = await sandbox.listen(config.sandboxProviderPort, config.host);
  console.log(
    `Sandbox payment provider listening on ${url}; webhooks to ${webhookUrl ?? "(none: set PAYMENT_WEBHOOK_URL)"}`,
  );
  const stop = () => void sandbox.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
