import { ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

/**
 * Throwaway Redis, NATS and MariaDB servers started from the machine's binaries,
 * for tests that need a server configured differently from the shared ones
 * (TLS only). Each gets a free port and a directory of its own, and is
 * killed by stop(). On CI (CI=true) a missing binary fails the suite instead
 * of leaving it out.
 */
export interface PrivateServer {
  port: number;
  stop(): Promise<void>;
}

const onCi = process.env.CI === "true" || process.env.CI === "1";

/** True when `binary` is on the PATH (looked up, not run); on CI a missing binary throws. */
export function binaryAvailable(binary: string): boolean {
  const found = (process.env.PATH ?? "").split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, binary), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!found && onCi) throw new Error(`CI needs ${binary} on the PATH for this suite`);
  return found;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Spawns a server and resolves once its output contains `readyLine`; rejects with the output if it exits first. */
async function spawnUntilReady(
  binary: string,
  args: string[],
  readyLine: string,
  port: number,
): Promise<PrivateServer> {
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail("did not become ready within 20 s"), 20_000);
    function fail(why: string) {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${binary} ${why}:\n${output}`));
    }
    // Keeps reading after ready too: a full pipe would block the server.
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(readyLine)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => fail(`exited (${code}) before it was ready`));
    child.once("error", (err) => fail(err.message));
  });
  child.removeAllListeners("exit");
  return { port, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

export interface TlsFiles {
  /** CA certificate the server trusts for client certificates (Redis requires one). */
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A directory the server may use for its files. */
  dir: string;
}

/** redis-server with a TLS port only (no plain port), no persistence. */
export async function startTlsRedis(files: TlsFiles): Promise<PrivateServer> {
  const port = await freePort();
  return spawnUntilReady(
    "redis-server",
    [
      ...["--port", "0", "--tls-port", String(port), "--bind", "127.0.0.1"],
      ...["--tls-cert-file", files.certFile, "--tls-key-file", files.keyFile],
      ...["--tls-ca-cert-file", files.caFile, "--tls-auth-clients", "no"],
      ...["--save", "", "--appendonly", "no", "--dir", files.dir],
    ],
    "Ready to accept connections",
    port,
  );
}

/** nats-server with JetStream that requires TLS of every client. */
export async function startTlsNats(files: TlsFiles): Promise<PrivateServer> {
  const port = await freePort();
  return spawnUntilReady(
    "nats-server",
    [
      ...["-a", "127.0.0.1", "-p", String(port)],
      ...["--tls", "--tlscert", files.certFile, "--tlskey", files.keyFile],
      ...["-js", "-sd", path.join(files.dir, "nats")],
    ],
    "Server is ready",
    port,
  );
}

/**
 * mariadbd on a fresh data directory with TLS enabled (clients may still
 * connect without it, as with a stock server: requiring TLS is the client's
 * MYSQL_TLS). root@127.0.0.1 has no password.
 */
export async function startTlsMariaDb(files: TlsFiles): Promise<PrivateServer> {
  const port = await freePort();
  const dataDir = path.join(files.dir, "mariadb-data");
  fs.mkdirSync(dataDir);
  const installed = spawnSync(
    "mariadb-install-db",
    [
      "--no-defaults",
      `--datadir=${dataDir}`,
      "--user=root",
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
    ],
    { encoding: "utf8" },
  );
  if (installed.status !== 0)
    throw new Error(`mariadb-install-db failed:\n${installed.stdout}${installed.stderr}`);
  return spawnUntilReady(
    "mariadbd",
    [
      "--no-defaults",
      `--datadir=${dataDir}`,
      "--user=root",
      `--port=${port}`,
      "--bind-address=127.0.0.1",
      `--socket=${path.join(files.dir, "mariadb.sock")}`,
      `--pid-file=${path.join(files.dir, "mariadb.pid")}`,
      `--ssl-ca=${files.caFile}`,
      `--ssl-cert=${files.certFile}`,
      `--ssl-key=${files.keyFile}`,
      "--skip-log-bin",
      "--innodb-buffer-pool-size=16M",
    ],
    "ready for connections",
    port,
  );
}
