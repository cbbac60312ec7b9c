import { signatureHeader } from "../../../lib/security/webhook-signature";
import type { ProviderEvent } from "./types";

/**
 * Delivers the sandbox's events to the registered webhook endpoints, signed
 * with the webhook secret (`Sandbox-Signature`, Stripe's scheme). A delivery
 * that gets no 2xx answer is retried with exponential backoff, as real
 * providers do, so the receiver may see an event more than once.
 */
export const SIGNATURE_HEADER = "Sandbox-Signature";

export interface WebhookSenderOptions {
  secret: string;
  /** First retry delay; doubles on each further attempt. */
  retryDelayMs: number;
  attempts: number;
  log: (message: string) => void;
}

export interface Delivery {
  eventId: string;
  url: string;
  attempts: number;
  lastStatus: number | null;
  delivered: boolean;
}

const DELIVERY_TIMEOUT_MS = 10_000;

export class WebhookSender {
  readonly endpoints = new Set<string>();
  readonly deliveries: Delivery[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly opts: WebhookSenderOptions) {}

  /** Sends the event to every endpoint (again, when it was sent before). */
  send(event: ProviderEvent): void {
    for (const url of this.endpoints) {
      const delivery: Delivery = {
        eventId: event.id,
        url,
        attempts: 0,
        lastStatus: null,
        delivered: false,
      };
      this.deliveries.push(delivery);
      this.attempt(event, delivery);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  private attempt(event: ProviderEvent, delivery: Delivery): void {
    if (this.closed) return;
    const run = this.post(event, delivery).finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }

  private async post(event: ProviderEvent, delivery: Delivery): Promise<void> {
    delivery.attempts++;
    // Signed at each attempt: the timestamp is the time of sending.
    const body = JSON.stringify(event);
    try {
      const res = await fetch(delivery.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          [SIGNATURE_HEADER]: signatureHeader(body, this.opts.secret),
          "user-agent": "SandboxProvider-Webhooks/1.0",
        },
        body,
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
      delivery.lastStatus = res.status;
      delivery.delivered = res.ok;
    } catch {
      delivery.lastStatus = null;
    }
    if (delivery.delivered || this.closed) return;
    if (delivery.attempts >= this.opts.attempts) {
      this.opts.log(
        `webhook ${event.id} (${event.type}) to ${delivery.url} given up after ${delivery.attempts} attempts`,
      );
      return;
    }
    const delay = this.opts.retryDelayMs * 2 ** (delivery.attempts - 1);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.attempt(event, delivery);
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }
}
