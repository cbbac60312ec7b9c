/**
 * Where notifications leave the system. Each channel has a port with a
 * production adapter (SMTP, an HTTP SMS provider) and an embedded one
 * (.eml files, the log), chosen from configuration only (transports/index.ts).
 * A send that throws is retried by the queue, so adapters throw on any
 * failure and must tolerate being asked twice for the same notification.
 */

export interface OutgoingEmail {
  /** The notification id: the Message-ID and file name, the same on every attempt. */
  notificationId: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface OutgoingSms {
  notificationId: string;
  /** Digits with an optional leading +. */
  to: string;
  text: string;
}

export interface EmailTransport {
  /** For the start-up log line: adapter and target, without credentials. */
  readonly description: string;
  send(email: OutgoingEmail): Promise<void>;
  close(): void;
}

export interface SmsTransport {
  readonly description: string;
  send(sms: OutgoingSms): Promise<void>;
}
