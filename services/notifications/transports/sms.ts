import { redact } from "../../../lib/infra";
import { maskPhone } from "../domain/recipients";
import type { OutgoingSms, SmsTransport } from "./port";

/** How long the provider may take to accept one message. */
const SMS_TIMEOUT_MS = 10_000;

/**
 * An HTTP SMS provider: POST `{to, text}` as JSON with the API key as a
 * Bearer token; any 2xx is accepted, anything else (or no answer in time)
 * fails the attempt and the queue retries. The notification id goes along as
 * Idempotency-Key for providers that de-duplicate.
 */
export class HttpSmsTransport implements SmsTransport {
  readonly description: string;

  constructor(
    private readonly url: string,
    private readonly apiKey: string | undefined,
  ) {
    this.description = `http (${redact(url)})`;
  }

  async send(sms: OutgoingSms): Promise<void> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "idempotency-key": sms.notificationId,
    };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    const res = await fetch(this.url, {
      method: "POST",
      headers,
      body: JSON.stringify({ to: sms.to, text: sms.text }),
      signal: AbortSignal.timeout(SMS_TIMEOUT_MS),
    });
    if (!res.ok) {
      const body = (await res.text().catch(() => "")).slice(0, 200);
      throw new Error(`SMS provider answered ${res.status}${body ? `: ${body}` : ""}`);
    }
  }
}

/** The embedded stand-in: the message goes to the log, the number masked. */
export class LogSmsTransport implements SmsTransport {
  readonly description = "log";

  constructor(private readonly log: (message: string) => void) {}

  async send(sms: OutgoingSms): Promise<void> {
    this.log(`SMS to ${maskPhone(sms.to)} (notification ${sms.notificationId}): ${sms.text}`);
  }
}
