import { randomBytes } from "node:crypto";
import path from "node:path";
import type { Config } from "../../../lib/config";
import { readOrGenerateSecretFile } from "../../../lib/secrets";

/**
 * The payment provider's API key and webhook secret. Configured ones win.
 * Production refuses to start without both; elsewhere a missing one is
 * generated once into DATA_DIR/keys/payment-sandbox.json and reused, so the
 * all-in-one node and a sandbox run on its own (`npm run sandbox`) with the
 * same DATA_DIR agree on them.
 */
export interface ProviderSecrets {
  apiKey: string;
  webhookSecret: string;
  source: "environment" | "generated" | "data-dir";
}

interface StoredSecrets {
  apiKey: string;
  webhookSecret: string;
}

export function loadProviderSecrets(
  config: Config,
  log: (message: string) => void = () => undefined,
): ProviderSecrets {
  const { paymentGatewayApiKey: apiKey, paymentWebhookSecret: webhookSecret } = config;
  if (apiKey && webhookSecret) return { apiKey, webhookSecret, source: "environment" };
  if (config.nodeEnv === "production")
    throw new Error(
      "NODE_ENV=production needs PAYMENT_GATEWAY_API_KEY and PAYMENT_WEBHOOK_SECRET; refusing to start",
    );
  const file = path.join(config.dataDir, "keys", "payment-sandbox.json");
  const { stored, generated } = readOrGenerate(file);
  if (generated)
    log(
      `No payment provider secrets configured: generated a sandbox API key and webhook secret at ${file} (set PAYMENT_GATEWAY_API_KEY and PAYMENT_WEBHOOK_SECRET in production)`,
    );
  return {
    apiKey: apiKey ?? stored.apiKey,
    webhookSecret: webhookSecret ?? stored.webhookSecret,
    source: generated ? "generated" : "data-dir",
  };
}

function readOrGenerate(file: string): { stored: StoredSecrets; generated: boolean } {
  const { content, generated } = readOrGenerateSecretFile(file, () =>
    JSON.stringify({
      apiKey: `sk_test_${randomBytes(24).toString("hex")}`,
      webhookSecret: `whsec_${randomBytes(24).toString("hex")}`,
    }),
  );
  return { stored: parseSecrets(file, content), generated };
}

function parseSecrets(file: string, content: string): StoredSecrets {
  const parsed = JSON.parse(content) as Partial<StoredSecrets>;
  if (typeof parsed.apiKey !== "string" || typeof parsed.webhookSecret !== "string")
    throw new Error(`${file} does not hold a payment API key and webhook secret`);
  return { apiKey: parsed.apiKey, webhookSecret: parsed.webhookSecret };
}
