/**
 * What operator commands answer: lines of text and tables, as data, so the
 * REPL prints them and tests read them. `renderReport` is the one way they
 * become text.
 */
export type Cell = string | number | boolean | null | undefined;

export interface Table {
  title?: string;
  columns: string[];
  rows: Cell[][];
}

export type Block = string | Table;
export type Report = Block[];

export function table(columns: string[], rows: Cell[][], title?: string): Table {
  return title ? { title, columns, rows } : { columns, rows };
}

export function isTable(block: Block): block is Table {
  return typeof block !== "string";
}

/** Every table of a report, in order. */
export function tablesOf(report: Report): Table[] {
  return report.filter(isTable);
}

/** The report as plain text: tables as aligned columns under a dashed header. */
export function renderReport(report: Report): string {
  return report.map((block) => (isTable(block) ? renderTable(block) : block)).join("\n");
}

function renderTable({ title, columns, rows }: Table): string {
  const cells = [columns, ...rows.map((row) => row.map(cellText))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? "").length)));
  const line = (row: string[]) =>
    row
      .map((text, i) => text.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  const out = [line(columns), widths.map((w) => "-".repeat(w)).join("  ")];
  out.push(...cells.slice(1).map(line));
  if (!rows.length) out.push("(none)");
  return [...(title ? [title] : []), ...out].join("\n");
}

function cellText(cell: Cell): string {
  if (cell === null || cell === undefined) return "-";
  return String(cell).replace(/\s+/g, " ");
}

/** A duration for people: 850 ms, 12.3 s, 4 min 5 s, 2 h 3 min. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.floor((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/**
 * Integer minor units as a decimal with the currency's own number of minor
 * digits ({amount: 3998, currency: "USD"} → "39.98 USD"), built from the
 * digits, never through a float.
 */
export function formatMoney(money: { amount: number; currency: string }): string {
  let digits = 2;
  try {
    const format = new Intl.NumberFormat("en", { style: "currency", currency: money.currency });
    digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    // Not an ISO currency code: shown with two decimals.
  }
  const sign = money.amount < 0 ? "-" : "";
  const units = String(Math.abs(money.amount)).padStart(digits + 1, "0");
  const decimal = digits ? `${units.slice(0, -digits)}.${units.slice(-digits)}` : units;
  return `${sign}${decimal} ${money.currency}`;
}
