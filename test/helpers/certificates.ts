import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { generate } from "selfsigned";

/**
 * Certificates for TLS tests, made in the test (nothing checked in): a
 * self-signed server certificate, or a private CA and a server certificate it
 * signs. Server certificates name 127.0.0.1 and localhost, so host name
 * verification passes for the local servers the tests start.
 */
export interface KeyPair {
  cert: string;
  key: string;
}

const ONE_DAY_MS = 24 * 3600 * 1000;

const serverExtensions = [
  { name: "basicConstraints" as const, cA: false },
  { name: "keyUsage" as const, digitalSignature: true, keyEncipherment: true },
  { name: "extKeyUsage" as const, serverAuth: true },
  {
    name: "subjectAltName" as const,
    altNames: [
      { type: 7 as const, ip: "127.0.0.1" },
      { type: 2 as const, value: "localhost" },
    ],
  },
];

function validity() {
  const now = Date.now();
  return { notBeforeDate: new Date(now - 60_000), notAfterDate: new Date(now + ONE_DAY_MS) };
}

/** A server certificate signed by its own key. */
export async function selfSignedServerCertificate(): Promise<KeyPair> {
  const pems = await generate([{ name: "commonName", value: "127.0.0.1" }], {
    keyType: "ec",
    algorithm: "sha256",
    ...validity(),
    extensions: serverExtensions,
  });
  return { cert: pems.cert, key: pems.private };
}

/** A private CA (its certificate is what clients trust) and a server certificate it signed. */
export async function privateCaWithServerCertificate(): Promise<{ ca: KeyPair; server: KeyPair }> {
  const ca = await generate([{ name: "commonName", value: "Test Root CA" }], {
    keyType: "ec",
    algorithm: "sha256",
    ...validity(),
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const server = await generate([{ name: "commonName", value: "127.0.0.1" }], {
    keyType: "ec",
    algorithm: "sha256",
    ...validity(),
    ca: { key: ca.private, cert: ca.cert },
    extensions: serverExtensions,
  });
  return {
    ca: { cert: ca.cert, key: ca.private },
    server: { cert: server.cert, key: server.private },
  };
}

/** A temporary directory for PEM files; `write` returns the file's path. */
export function pemDirectory(): { dir: string; write(name: string, pem: string): string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "commerce-tls-"));
  return {
    dir,
    write(name, pem) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, pem, { mode: 0o600 });
      return file;
    },
  };
}
