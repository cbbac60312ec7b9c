import { logIn } from "./checkout";

/**
 * Whether the emails an order causes keep up with checkout. They are sent
 * from a queue after the order is confirmed, so a checkout figure can look
 * better than the node sustains by leaving its emails for later. After the
 * load, the bench counts the notifications not yet sent (the admin
 * `GET /notifications` delivery log) and waits until they are.
 */
export interface NotificationBacklog {
  /** Notifications queued or being sent when the load ended. */
  waitingAtEnd: number;
  /** Seconds after the load until none was waiting; undefined if some still were at the deadline. */
  drainedAfterSec?: number;
}

export interface AdminAccount {
  email: string;
  password: string;
}

const DRAIN_DEADLINE_MS = 120_000;
const POLL_MS = 250;

/** The node's notification log, read as its admin. */
export class NotificationLog {
  private constructor(
    private readonly api: string,
    private readonly token: string,
  ) {}

  static async open(baseUrl: string, { email, password }: AdminAccount): Promise<NotificationLog> {
    const api = `${baseUrl}/api/v1`;
    return new NotificationLog(api, await logIn(api, email, password));
  }

  /** Not sent yet: queued (or waiting for a retry) and being sent. */
  async waiting(): Promise<number> {
    const counts = await Promise.all(
      ["queued", "sending"].map(async (status) => {
        const res = await fetch(`${this.api}/notifications?status=${status}&pageSize=1`, {
          headers: { authorization: `Bearer ${this.token}` },
        });
        if (res.status !== 200) throw new Error(`GET /notifications answered ${res.status}`);
        return ((await res.json()) as { total: number }).total;
      }),
    );
    return counts[0] + counts[1];
  }

  /** Waits until none is waiting; `waitingAtEnd` were, when the load ended at `loadEnded`. */
  async drained(loadEnded: number, waitingAtEnd: number): Promise<NotificationBacklog> {
    let left = waitingAtEnd;
    while (left > 0 && Date.now() - loadEnded < DRAIN_DEADLINE_MS) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      left = await this.waiting();
    }
    const seconds = Number(((Date.now() - loadEnded) / 1000).toFixed(1));
    return { waitingAtEnd, drainedAfterSec: left > 0 ? undefined : seconds };
  }
}
