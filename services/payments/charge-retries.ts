import type { JobQueue } from "../../lib/infra/queue/port";
import { backoffDelay } from "../../lib/resilience/backoff";
import type { ChargeRequest } from "./provider/port";

/**
 * Charges whose outcome stayed unknown (timeouts, 5xx, an open circuit)
 * are sent again later from the `payment-retries` queue: the same request
 * with the same idempotency key, so the provider charges at most once. The
 * job carries the request because the card token is never written to the
 * database; it lives only as long as the job.
 *
 * Job ids are `<payment id>-<try>`: a try is scheduled once, whichever node
 * or redelivery saw it fail.
 */
export const CHARGE_RETRY_QUEUE = "payment-retries";
/** Delays double from PAYMENT_CHARGE_RETRY_DELAY_MS up to this. */
const MAX_RETRY_DELAY_MS = 5 * 60_000;
/** Tries after which an unknown outcome is left to an operator (logged as an error). */
export const MAX_CHARGE_TRIES = 16;

export interface ChargeRetryJob {
  paymentId: string;
  /** The payment's count of unknown outcomes when this retry was scheduled. */
  try: number;
  request: ChargeRequest;
  correlationId?: string;
  sagaId?: string;
}

export class ChargeRetries {
  constructor(
    private readonly queue: JobQueue<ChargeRetryJob>,
    private readonly baseDelayMs: number,
  ) {}

  async schedule(job: ChargeRetryJob): Promise<void> {
    await this.queue.add("charge", job, {
      jobId: `${job.paymentId}-${job.try}`,
      delayMs: backoffDelay(job.try, { baseMs: this.baseDelayMs, maxMs: MAX_RETRY_DELAY_MS }),
      // These attempts cover the job itself failing (database down), not the provider.
      attempts: 5,
      backoffMs: Math.max(1000, this.baseDelayMs),
    });
  }
}
