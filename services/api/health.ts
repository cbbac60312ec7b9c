import type { PortStatus } from "../../lib/infra";

/**
 * Readiness: every infrastructure port answers and every service this gateway
 * routes to is registered (on this node or another). Targets (hosts, paths)
 * are left out: the endpoint is public.
 */
export interface Readiness {
  status: "ok" | "unavailable";
  ports: { port: string; adapter: string; ok: boolean }[];
  services: { name: string; ok: boolean }[];
}

export function readiness(
  ports: PortStatus[],
  expected: readonly string[],
  registered: ReadonlySet<string>,
): Readiness {
  const portList = ports.map((p) => ({ port: p.port, adapter: p.adapter, ok: p.ok !== false }));
  const services = expected.map((name) => ({ name, ok: registered.has(name) }));
  const ok = portList.every((p) => p.ok) && services.every((s) => s.ok);
  return { status: ok ? "ok" : "unavailable", ports: portList, services };
}
