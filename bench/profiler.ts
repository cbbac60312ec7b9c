import fs from "node:fs";
import path from "node:path";

/**
 * CPU profiles of the measured phases alone. The node the bench starts
 * listens for the inspector on a loopback port; the bench starts V8's
 * profiler after a scenario's warm-up and stops it when the scenario ends,
 * through the DevTools protocol, and writes one profile per scenario. A
 * profile of the node's whole life (`--cpu-prof`) would mix start-up, the
 * search index rebuild and the baseline's 50 connections into every
 * scenario's figures: checkout's share of the gateway, for one, would be
 * mostly the baseline's.
 */
export class ScenarioProfiler {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve(result: unknown): void; reject(err: Error): void }
  >();

  private constructor(
    private readonly socket: WebSocket,
    private readonly dir: string,
  ) {
    socket.addEventListener("message", (event) => this.onMessage(String(event.data)));
    socket.addEventListener("close", () => {
      for (const waiting of this.pending.values())
        waiting.reject(new Error("the inspector closed the connection"));
      this.pending.clear();
    });
  }

  /** Connects to the inspector on 127.0.0.1:`port`; profiles go into `dir`. */
  static async connect(port: number, dir: string): Promise<ScenarioProfiler> {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
      webSocketDebuggerUrl: string;
    }[];
    if (!targets.length) throw new Error(`no inspector target on port ${port}`);
    const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener("error", () => reject(new Error("cannot reach the inspector")), {
        once: true,
      });
    });
    const profiler = new ScenarioProfiler(socket, dir);
    await profiler.send("Profiler.enable");
    // The interval of --cpu-prof, so profiles taken either way compare.
    await profiler.send("Profiler.setSamplingInterval", { interval: 1000 });
    return profiler;
  }

  start(): Promise<unknown> {
    return this.send("Profiler.start");
  }

  /** Stops the profiler and writes what it took as `<date>-<scenario>.cpuprofile`; returns the path. */
  async stop(scenario: string): Promise<string> {
    const { profile } = (await this.send("Profiler.stop")) as { profile: unknown };
    fs.mkdirSync(this.dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const file = path.join(this.dir, `${stamp}-${scenario}.cpuprofile`);
    fs.writeFileSync(file, JSON.stringify(profile));
    return file;
  }

  close(): void {
    this.socket.close();
  }

  private send(method: string, params?: object): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  private onMessage(data: string): void {
    const message = JSON.parse(data) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
    };
    const waiting = message.id === undefined ? undefined : this.pending.get(message.id);
    if (!waiting) return; // an event, not an answer
    this.pending.delete(message.id!);
    if (message.error) waiting.reject(new Error(message.error.message));
    else waiting.resolve(message.result);
  }
}
