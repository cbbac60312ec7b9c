import fs from "node:fs/promises";
import path from "node:path";
import nodemailer from "nodemailer";
import type { Transporter } from "nodemailer";
import { redact } from "../../../lib/infra";
import type { EmailTransport, OutgoingEmail } from "./port";

/** How long one SMTP step (connect, greeting, any reply) may take before the attempt fails. */
const SMTP_TIMEOUT_MS = 15_000;

/** The sender's domain names each Message-ID, so retries of one notification share it. */
function messageId(notificationId: string, from: string): string {
  const domain = /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? "localhost";
  return `<${notificationId}@${domain}>`;
}

function message(email: OutgoingEmail, from: string) {
  return {
    from,
    to: email.to,
    subject: email.subject,
    text: email.text,
    html: email.html,
    messageId: messageId(email.notificationId, from),
  };
}

/**
 * SMTP through nodemailer: smtp:// upgrades with STARTTLS when the server
 * offers it, smtps:// is TLS from the start; certificates are verified unless
 * SMTP_TLS_REJECT_UNAUTHORIZED=false. One connection per message: sends are
 * spread over the queue's workers, and a broken connection never outlives
 * the attempt that saw it.
 */
export class SmtpEmailTransport implements EmailTransport {
  readonly description: string;
  private readonly transporter: Transporter;

  constructor(
    url: string,
    private readonly from: string,
    rejectUnauthorized: boolean,
  ) {
    this.description = `smtp (${redact(url)})`;
    this.transporter = nodemailer.createTransport({
      url,
      tls: { rejectUnauthorized },
      connectionTimeout: SMTP_TIMEOUT_MS,
      greetingTimeout: SMTP_TIMEOUT_MS,
      socketTimeout: SMTP_TIMEOUT_MS,
    } as nodemailer.TransportOptions);
  }

  async send(email: OutgoingEmail): Promise<void> {
    await this.transporter.sendMail(message(email, this.from));
  }

  close(): void {
    this.transporter.close();
  }
}

/**
 * The embedded stand-in: each email becomes `<notification id>.eml` (the
 * full MIME message nodemailer would have sent) under the directory. Written
 * to a temporary name and renamed, so a file is never seen half-written, and
 * a retry replaces rather than duplicates.
 */
export class EmlFileEmailTransport implements EmailTransport {
  readonly description: string;
  private readonly transporter: Transporter;
  private made?: Promise<unknown>;

  constructor(
    private readonly dir: string,
    private readonly from: string,
  ) {
    this.description = `.eml files (${dir})`;
    this.transporter = nodemailer.createTransport({
      streamTransport: true,
      buffer: true,
      newline: "unix",
    });
  }

  async send(email: OutgoingEmail): Promise<void> {
    const info = await this.transporter.sendMail(message(email, this.from));
    const file = path.join(this.dir, `${email.notificationId}.eml`);
    const partial = `${file}.partial`;
    await this.directoryMade();
    try {
      await fs.writeFile(partial, info.message as Buffer);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      // The directory was removed while the node ran (someone cleared the outbox).
      await fs.mkdir(this.dir, { recursive: true });
      await fs.writeFile(partial, info.message as Buffer);
    }
    await fs.rename(partial, file);
  }

  /** Made once, not before every email: a node sends two per order. */
  private directoryMade(): Promise<unknown> {
    this.made ??= fs.mkdir(this.dir, { recursive: true }).catch((err: unknown) => {
      this.made = undefined;
      throw err;
    });
    return this.made;
  }

  close(): void {
    this.transporter.close();
  }
}
