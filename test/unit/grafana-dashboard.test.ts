import fs from "node:fs";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { buildBrokerOptions } from "../../lib/broker";
import { loadConfig } from "../../lib/config";
import { BusinessMetric } from "../../lib/observability/metrics";

/**
 * The Grafana dashboard cannot drift from the code: every metric its queries
 * read is one a node registers (Moleculer's, the channels', ours), with
 * labels that metric has, and every business metric is on it.
 */
interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
}

interface RegisteredMetric {
  name: string;
  type: string;
  labelNames: string[];
}

const dashboard = JSON.parse(
  fs.readFileSync(path.join(__dirname, "../../deploy/grafana/dashboards/commerce.json"), "utf8"),
) as { uid: string; panels: Panel[] };

const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

/** Moleculer's Prometheus reporter: dots and dashes become underscores. */
const prometheusName = (name: string) => name.replace(/[.-]/g, "_");

/** Series a PromQL expression reads, with the label names its selector uses. */
function selectorsOf(expr: string): { series: string; labels: string[] }[] {
  const out: { series: string; labels: string[] }[] = [];
  for (const m of expr.matchAll(/\b((?:commerce|moleculer)_[A-Za-z0-9_]+)(\{([^}]*)\})?/g)) {
    const labels = [...(m[3] ?? "").matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]);
    out.push({ series: m[1], labels });
  }
  return out;
}

describe("Grafana dashboard", () => {
  let registered: Map<string, RegisteredMetric>;

  beforeAll(async () => {
    // A node as production builds it, metrics on: what it registers is what it can expose.
    const broker = new ServiceBroker(
      buildBrokerOptions(
        loadConfig({
          NODE_ENV: "test",
          LOG_LEVEL: "error",
          SQLITE_STORAGE: ":memory:",
          METRICS_PORT: "0",
        }),
      ),
    );
    const metrics = broker.metrics.list() as RegisteredMetric[];
    registered = new Map(metrics.map((m) => [prometheusName(m.name), m]));
    await broker.stop();
  });

  /** The registered metric a series belongs to (histograms also expose `<name>_bucket`). */
  function metricOf(series: string): RegisteredMetric | undefined {
    const exact = registered.get(series);
    if (exact) return exact;
    const histogram = registered.get(series.replace(/_bucket$/, ""));
    return histogram?.type === "histogram" ? histogram : undefined;
  }

  it("reads only metrics a node registers", () => {
    const unknown = queries
      .flatMap(selectorsOf)
      .map((s) => s.series)
      .filter((series) => !metricOf(series));
    expect(unknown).toEqual([]);
    expect(queries.flatMap(selectorsOf).length).toBeGreaterThan(10);
  });

  it("filters only on labels those metrics have", () => {
    const wrong = queries.flatMap(selectorsOf).flatMap(({ series, labels }) => {
      const metric = metricOf(series);
      if (!metric) return [];
      const known = new Set([...metric.labelNames, "namespace", "nodeID", "group"]);
      if (series.endsWith("_bucket")) known.add("le");
      return labels.filter((l) => !known.has(l)).map((l) => `${series}{${l}}`);
    });
    expect(wrong).toEqual([]);
  });

  it("shows every business metric", () => {
    const used = new Set(queries.flatMap(selectorsOf).map((s) => s.series.replace(/_bucket$/, "")));
    const missing = Object.values(BusinessMetric)
      .map(prometheusName)
      .filter((name) => !used.has(name));
    expect(missing).toEqual([]);
  });

  it("queries the Prometheus datasource of the stack (uid prometheus)", () => {
    const graphs = dashboard.panels.filter((p) => p.type !== "row");
    expect(graphs.length).toBeGreaterThan(0);
    for (const panel of graphs) {
      expect(panel.datasource).toEqual({ type: "prometheus", uid: "prometheus" });
      expect(panel.targets?.length).toBeGreaterThan(0);
    }
  });
});
