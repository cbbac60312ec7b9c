import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import { KeyPair, pemDirectory, selfSignedServerCertificate } from "../helpers/certificates";
import { Platform, startPlatform } from "../helpers/platform";

/**
 * The gateway with HTTPS_CERT_FILE / HTTPS_KEY_FILE: HTTPS only on PORT with
 * that certificate, plain HTTP refused, a client that does not trust the
 * certificate refused, and bad certificate files stopping the node at start.
 */
interface HttpsAnswer {
  status: number;
  body: unknown;
  /** SHA-256 fingerprint of the certificate the server presented. */
  served: string;
}

/** GET over HTTPS with Node's own client; `ca` is the only certificate it trusts when given. */
function httpsGet(url: string, ca?: string): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false }, (res) => {
      const served = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text), served }));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

describe("gateway over HTTPS", () => {
  const files = pemDirectory();
  let certificate: KeyPair;
  let platform: Platform;

  beforeAll(async () => {
    certificate = await selfSignedServerCertificate();
    platform = await startPlatform({
      env: {
        HTTPS_CERT_FILE: files.write("gateway.crt", certificate.cert),
        HTTPS_KEY_FILE: files.write("gateway.key", certificate.key),
      },
    });
  });

  afterAll(async () => {
    await platform?.stop();
    fs.rmSync(files.dir, { recursive: true, force: true });
  });

  it("serves the API over HTTPS with the configured certificate", async () => {
    expect(platform.baseUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/api\/v1$/);
    const answer = await httpsGet(`${platform.baseUrl}/health`, certificate.cert);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: "ok" });
    expect(answer.served).toBe(new X509Certificate(certificate.cert).fingerprint256);
  });

  it("does not answer plain HTTP on the same port", async () => {
    const plainUrl = `${platform.baseUrl.replace(/^https:/, "http:")}/health`;
    await expect(fetch(plainUrl)).rejects.toThrow();
  });

  it("is refused by a client that verifies certificates the default way", async () => {
    // The client trusts only the system CAs, as every client does unless told otherwise.
    await expect(httpsGet(`${platform.baseUrl}/health`)).rejects.toMatchObject({
      code: "DEPTH_ZERO_SELF_SIGNED_CERT",
    });
  });
});

describe("gateway certificate files", () => {
  const files = pemDirectory();
  let certificate: KeyPair;

  beforeAll(async () => {
    certificate = await selfSignedServerCertificate();
  });

  afterAll(() => fs.rmSync(files.dir, { recursive: true, force: true }));

  it("stop the node at start when the certificate file is missing, naming the setting", async () => {
    const missing = `${files.dir}/no-such.crt`;
    await expect(
      startPlatform({
        env: { HTTPS_CERT_FILE: missing, HTTPS_KEY_FILE: files.write("a.key", certificate.key) },
      }),
    ).rejects.toThrow(`HTTPS_CERT_FILE: cannot read ${missing} (ENOENT)`);
  });

  it("stop the node at start when the key does not belong to the certificate", async () => {
    const other = await selfSignedServerCertificate();
    await expect(
      startPlatform({
        env: {
          HTTPS_CERT_FILE: files.write("b.crt", certificate.cert),
          HTTPS_KEY_FILE: files.write("b.key", other.key),
        },
      }),
    ).rejects.toThrow(/HTTPS_CERT_FILE \/ HTTPS_KEY_FILE: .*key values mismatch/);
  });
});
