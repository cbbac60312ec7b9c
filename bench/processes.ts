import fs from "node:fs";

/**
 * What the bench reads of the processes it measures, from /proc: peak
 * memory of the node (and of a split cluster's nodes) and the CPU time the
 * node and the servers on this machine spend, which shows where a request's
 * cost lies (the node, the database, the broker) and how much CPU a target
 * throughput needs.
 */

/** USER_HZ: /proc counts CPU time in these ticks (100 on every Linux we run). */
const TICKS_PER_SEC = 100;

/** The database, cache and broker servers whose CPU a run counts, by process name. */
const SERVER_NAMES = ["mariadbd", "mysqld", "redis-server", "nats-server"];

/**
 * Peak resident memory of the node and of the processes it started (a split
 * cluster's nodes), summed, in KiB; read from /proc (VmHWM is the kernel's
 * high-water mark of each process).
 */
export function sampleRss(pid: number): { peakKib(): number | undefined; stop(): void } {
  const peakKib = new Map<number, number>();
  const read = () => {
    for (const each of [pid, ...descendantsOf(pid)]) {
      try {
        const status = fs.readFileSync(`/proc/${each}/status`, "utf8");
        const hwm = /VmHWM:\s+(\d+)/.exec(status);
        if (hwm) peakKib.set(each, Math.max(peakKib.get(each) ?? 0, Number(hwm[1])));
      } catch {
        /* the process ended */
      }
    }
  };
  const timer = setInterval(read, 500);
  return {
    peakKib: () => {
      read();
      const sum = [...peakKib.values()].reduce((a, b) => a + b, 0);
      return sum || undefined;
    },
    stop: () => clearInterval(timer),
  };
}

/** CPU seconds used so far: by the node and its descendants, and by each local server. */
export interface CpuReading {
  node?: number;
  servers: Record<string, number>;
}

export function readCpu(nodePid?: number): CpuReading {
  const servers: Record<string, number> = {};
  for (const pid of processIds()) {
    const name = processName(pid);
    if (name && SERVER_NAMES.includes(name))
      servers[name] = (servers[name] ?? 0) + (cpuSecondsOf(pid) ?? 0);
  }
  if (nodePid === undefined) return { servers };
  const node = [nodePid, ...descendantsOf(nodePid)]
    .map((pid) => cpuSecondsOf(pid) ?? 0)
    .reduce((a, b) => a + b, 0);
  return { node, servers };
}

/** Milliseconds of CPU per unit of work (request, order) between two readings. */
export function cpuMsPer(
  before: CpuReading,
  after: CpuReading,
  units: number,
): { nodeMs?: number; serversMs?: number; byServer?: Record<string, number> } {
  if (!units) return {};
  const perUnit = (seconds: number) => Number(((seconds * 1000) / units).toFixed(2));
  const byServer: Record<string, number> = {};
  let serverSeconds = 0;
  for (const [name, seconds] of Object.entries(after.servers)) {
    const used = seconds - (before.servers[name] ?? 0);
    byServer[name] = perUnit(used);
    serverSeconds += used;
  }
  return {
    nodeMs:
      after.node !== undefined && before.node !== undefined
        ? perUnit(after.node - before.node)
        : undefined,
    serversMs: Object.keys(byServer).length ? perUnit(serverSeconds) : undefined,
    byServer,
  };
}

/** utime + stime of one process (all its threads), in seconds; undefined once it has ended. */
function cpuSecondsOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The name (field 2) may hold spaces and parentheses: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC;
  } catch {
    return undefined;
  }
}

function processIds(): number[] {
  return fs
    .readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);
}

function processName(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

function descendantsOf(pid: number): number[] {
  let children: number[];
  try {
    children = fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
  return children.flatMap((child) => [child, ...descendantsOf(child)]);
}
