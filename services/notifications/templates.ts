import fs from "node:fs/promises";
import path from "node:path";
import Handlebars from "handlebars";
import type { Money } from "../../lib/contracts/catalog";
import {
  NOTIFICATION_TEMPLATES,
  NotificationChannel,
  NotificationTemplate,
} from "../../lib/contracts/notifications";

/**
 * Message templates, one directory per template under `templates/`:
 * `subject.hbs`, `text.hbs` and `html.hbs` make the email, `sms.hbs` (when
 * present) the text message. They are Handlebars files: HTML output is
 * escaped, subject, text and SMS output is not (it is not HTML). Strict mode:
 * a field the template uses but the data lacks is an error, not a blank.
 *
 * The directory sits next to this module, in the sources and in dist/ (the
 * build copies it: scripts/copy-templates.mjs), so a template is found the
 * same way under ts-node, Jest and `npm start`.
 */
export const TEMPLATES_DIR = path.join(__dirname, "templates");

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

type Compiled = Handlebars.TemplateDelegate<Record<string, unknown>>;

interface TemplateSet {
  subject: Compiled;
  text: Compiled;
  html: Compiled;
  sms?: Compiled;
}

export class TemplateError extends Error {
  override readonly name = "TemplateError";
}

export class TemplateRenderer {
  private constructor(private readonly templates: Map<NotificationTemplate, TemplateSet>) {}

  /** Reads and compiles every template; a missing or broken file stops the service from starting. */
  static async load(dir = TEMPLATES_DIR): Promise<TemplateRenderer> {
    const handlebars = createHandlebars();
    const templates = new Map<NotificationTemplate, TemplateSet>();
    for (const name of NOTIFICATION_TEMPLATES) {
      const read = async (file: string, escape: boolean, optional = false) => {
        const source = await fs.readFile(path.join(dir, name, file), "utf8").catch((err) => {
          if (optional && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
          throw err;
        });
        if (source === undefined) return undefined;
        const compiled = handlebars.compile<Record<string, unknown>>(source, {
          strict: true,
          noEscape: !escape,
        });
        // compile() parses lazily, on first use: parse now so a syntax error stops the start.
        handlebars.precompile(source, { strict: true });
        return compiled;
      };
      templates.set(name, {
        subject: (await read("subject.hbs", false))!,
        text: (await read("text.hbs", false))!,
        html: (await read("html.hbs", true))!,
        sms: await read("sms.hbs", false, true),
      });
    }
    return new TemplateRenderer(templates);
  }

  supports(template: NotificationTemplate, channel: NotificationChannel): boolean {
    const set = this.templates.get(template);
    return channel === "email" ? Boolean(set) : Boolean(set?.sms);
  }

  email(template: NotificationTemplate, data: Record<string, unknown>): RenderedEmail {
    const set = this.set(template);
    return {
      // A subject is one line, whatever the template's line breaks.
      subject: render(set.subject, data, template).replace(/\s+/g, " ").trim(),
      text: render(set.text, data, template),
      html: render(set.html, data, template),
    };
  }

  sms(template: NotificationTemplate, data: Record<string, unknown>): string {
    const sms = this.set(template).sms;
    if (!sms) throw new TemplateError(`Template "${template}" has no text message`);
    return render(sms, data, template).replace(/\s+/g, " ").trim();
  }

  private set(template: NotificationTemplate): TemplateSet {
    const set = this.templates.get(template);
    if (!set) throw new TemplateError(`Unknown template "${template}"`);
    return set;
  }
}

function render(compiled: Compiled, data: Record<string, unknown>, template: string): string {
  try {
    return compiled(data);
  } catch (err) {
    throw new TemplateError(`Template "${template}": ${(err as Error).message}`);
  }
}

function createHandlebars(): typeof Handlebars {
  const handlebars = Handlebars.create();
  handlebars.registerHelper("money", (value: unknown) => formatMoney(value as Money));
  handlebars.registerHelper("date", (value: unknown) => formatDate(String(value)));
  return handlebars;
}

/**
 * {amount: 1234, currency: "USD"} → "$12.34". The decimal is built from the
 * integer as a string (Intl formats decimal strings exactly), so no float
 * ever stands for money; the currency says how many minor digits it has.
 */
export function formatMoney(money: Money): string {
  if (!money || !Number.isInteger(money.amount) || typeof money.currency !== "string")
    throw new TemplateError("money needs {amount: integer minor units, currency}");
  const { format, digits } = currencyFormat(money.currency);
  const negative = money.amount < 0;
  const units = String(Math.abs(money.amount)).padStart(digits + 1, "0");
  const decimal = digits
    ? `${units.slice(0, units.length - digits)}.${units.slice(-digits)}`
    : units;
  // Intl accepts decimal strings (ES2023 Intl.NumberFormat v3); the typings do not say so yet.
  return format.format(`${negative ? "-" : ""}${decimal}` as unknown as number);
}

// Intl formatters are costly to build (a few hundred µs each), and even asking one for its
// options builds an object: one per currency, kept with its number of minor digits.
const currencyFormats = new Map<string, { format: Intl.NumberFormat; digits: number }>();

function currencyFormat(currency: string): { format: Intl.NumberFormat; digits: number } {
  let entry = currencyFormats.get(currency);
  if (!entry) {
    // Built before it is kept: an unknown code throws here and is never cached.
    const format = new Intl.NumberFormat("en-US", { style: "currency", currency });
    entry = { format, digits: format.resolvedOptions().maximumFractionDigits ?? 2 };
    currencyFormats.set(currency, entry);
  }
  return entry;
}

const dateFormat = new Intl.DateTimeFormat("en-US", {
  dateStyle: "long",
  timeStyle: "short",
  timeZone: "UTC",
});

/** An ISO time as "June 3, 2025 at 2:05 PM UTC". */
export function formatDate(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) throw new TemplateError(`"${iso}" is not a date`);
  return dateFormat.format(date).concat(" UTC");
}
