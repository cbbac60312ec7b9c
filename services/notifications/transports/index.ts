import path from "node:path";
import type { Config } from "../../../lib/config";
import { EmlFileEmailTransport, SmtpEmailTransport } from "./email";
import type { EmailTransport, SmsTransport } from "./port";
import { HttpSmsTransport, LogSmsTransport } from "./sms";

export type { EmailTransport, OutgoingEmail, OutgoingSms, SmsTransport } from "./port";

export interface Transports {
  email: EmailTransport;
  sms: SmsTransport;
}

/** SMTP_URL and SMS_URL pick the real transports; unset, mail goes to DATA_DIR/outbox-mail and SMS to the log. */
export function createTransports(config: Config, log: (message: string) => void): Transports {
  return {
    email: config.smtpUrl
      ? new SmtpEmailTransport(config.smtpUrl, config.smtpFrom, config.smtpTlsRejectUnauthorized)
      : new EmlFileEmailTransport(path.join(config.dataDir, "outbox-mail"), config.smtpFrom),
    sms: config.smsUrl
      ? new HttpSmsTransport(config.smsUrl, config.smsApiKey)
      : new LogSmsTransport(log),
  };
}
