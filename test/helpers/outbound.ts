import { createServer, IncomingMessage, Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { waitFor } from "./wait";

/**
 * Real servers for what the platform sends out, run in the test process:
 * an SMTP server (the `smtp-server` library) that parses every message it
 * accepts with mailparser, and an HTTP SMS provider that records each POST.
 * Tests read what arrived instead of looking inside the sender.
 */

export interface ReceivedMail {
  /** Envelope recipients (RCPT TO), lower case. */
  to: string[];
  subject: string;
  text: string;
  html: string;
  messageId?: string;
  parsed: ParsedMail;
}

export interface TestSmtpServer {
  /** smtp://127.0.0.1:<port> for SMTP_URL. */
  url: string;
  received: ReceivedMail[];
  /** Messages accepted for one address so far. */
  mailTo(address: string): ReceivedMail[];
  /** Waits for the first message to an address whose subject matches (default: any). */
  waitForMail(address: string, subject?: RegExp, timeoutMs?: number): Promise<ReceivedMail>;
  /**
   * Refuses the next `times` messages to this address at DATA with a
   * temporary error (451), as a busy server would; Infinity refuses them all.
   */
  refuse(address: string, times: number): void;
  /** How many messages to this address were refused. */
  refusedFor(address: string): number;
  /** Every message waits this long before it is accepted (a slow server). */
  setDelay(ms: number): void;
  /** The most messages held at once (sent, not yet accepted) since the last reset. */
  mostInFlight(): number;
  resetMostInFlight(): void;
  close(): Promise<void>;
}

export async function startSmtpServer(): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = [];
  const toRefuse = new Map<string, number>();
  const refused = new Map<string, number>();
  let delayMs = 0;
  let inFlight = 0;
  let mostInFlight = 0;

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        const refusing = to.find((address) => (toRefuse.get(address) ?? 0) > 0);
        if (refusing) {
          toRefuse.set(refusing, toRefuse.get(refusing)! - 1);
          refused.set(refusing, (refused.get(refusing) ?? 0) + 1);
          const err = Object.assign(new Error("Mailbox busy, try again later"), {
            responseCode: 451,
          });
          callback(err);
          return;
        }
        const raw = Buffer.concat(chunks);
        mostInFlight = Math.max(mostInFlight, ++inFlight);
        setTimeout(() => {
          inFlight--;
          simpleParser(raw)
            .then((parsed) => {
              received.push({
                to,
                subject: parsed.subject ?? "",
                text: parsed.text ?? "",
                html: typeof parsed.html === "string" ? parsed.html : "",
                messageId: parsed.messageId,
                parsed,
              });
              callback();
            })
            .catch((err: Error) => callback(err));
        }, delayMs);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = (server as unknown as { server: Server }).server.address() as AddressInfo;

  const mailTo = (address: string) => received.filter((m) => m.to.includes(address.toLowerCase()));
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    mailTo,
    waitForMail(address, subject, timeoutMs = 10_000) {
      return waitFor(() => mailTo(address).find((m) => !subject || subject.test(m.subject)), {
        timeoutMs,
        intervalMs: 20,
      });
    },
    refuse(address, times) {
      toRefuse.set(address.toLowerCase(), times);
    },
    refusedFor(address) {
      return refused.get(address.toLowerCase()) ?? 0;
    },
    setDelay(ms) {
      delayMs = ms;
    },
    mostInFlight: () => mostInFlight,
    resetMostInFlight() {
      mostInFlight = inFlight;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface ReceivedSms {
  to: string;
  text: string;
  authorization?: string;
  idempotencyKey?: string;
}

export interface TestSmsProvider {
  /** http://127.0.0.1:<port>/messages for SMS_URL. */
  url: string;
  received: ReceivedSms[];
  close(): Promise<void>;
}

/** An SMS provider that accepts every POST of `{to, text}` with 202 and records it. */
export async function startSmsProvider(): Promise<TestSmsProvider> {
  const received: ReceivedSms[] = [];
  const server = createServer((req, res) => {
    readBody(req)
      .then((body) => {
        const { to, text } = JSON.parse(body) as { to: string; text: string };
        received.push({
          to,
          text,
          authorization: req.headers.authorization,
          idempotencyKey: req.headers["idempotency-key"] as string | undefined,
        });
        res.writeHead(202, { "content-type": "application/json" });
        res.end(JSON.stringify({ id: `sms-${received.length}` }));
      })
      .catch(() => {
        res.writeHead(400);
        res.end();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/messages`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
