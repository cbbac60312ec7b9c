import fs from "node:fs";
import { QueryTypes, Sequelize } from "sequelize";
import { loadConfig } from "../../lib/config";
import { Infrastructure } from "../../lib/infra";
import { privateCaWithServerCertificate, pemDirectory } from "../helpers/certificates";
import { binaryAvailable, PrivateServer, startTlsMariaDb } from "../helpers/private-servers";
import { serverAvailable, servers } from "../helpers/servers";

/**
 * MySQL/MariaDB over TLS (MYSQL_TLS=on). The shared MariaDB of the test
 * machines has TLS disabled and is not reconfigured for this suite; a private
 * mariadbd with a certificate from a private CA is started instead, and its
 * root account is made to require TLS, so a database that opens proves every
 * connection of the port (the one that creates the service's database and
 * the pool) used TLS.
 */
if (binaryAvailable("mariadbd") && binaryAvailable("mariadb-install-db"))
  describe("MySQL over TLS (MYSQL_TLS=on)", () => {
    const files = pemDirectory();
    let caFile: string;
    let mariadb: PrivateServer;
    let url: string;

    beforeAll(async () => {
      const { ca, server } = await privateCaWithServerCertificate();
      caFile = files.write("ca.crt", ca.cert);
      mariadb = await startTlsMariaDb({
        caFile,
        certFile: files.write("mariadb.crt", server.cert),
        keyFile: files.write("mariadb.key", server.key),
        dir: files.dir,
      });
      url = `mysql://root@127.0.0.1:${mariadb.port}/shop`;
      const admin = new Sequelize(url.replace("/shop", "/"), { dialect: "mysql", logging: false });
      try {
        await admin.query("ALTER USER 'root'@'127.0.0.1' REQUIRE SSL");
        await admin.query("ALTER USER 'root'@'localhost' REQUIRE SSL");
      } finally {
        await admin.close();
      }
    }, 60_000);

    afterAll(async () => {
      await mariadb?.stop();
      fs.rmSync(files.dir, { recursive: true, force: true });
    });

    it("opens and uses a service's database over TLS, verified with MYSQL_TLS_CA_FILE", async () => {
      const infra = new Infrastructure(
        loadConfig({ MYSQL_URL: url, MYSQL_TLS: "on", MYSQL_TLS_CA_FILE: caFile }),
      );
      try {
        const db = await infra.database("tlscheck");
        const [cipher] = await db.sequelize.query<{ Value: string }>(
          "SHOW SESSION STATUS LIKE 'Ssl_cipher'",
          { type: QueryTypes.SELECT },
        );
        expect(cipher.Value).not.toBe("");
        const [{ name }] = await db.sequelize.query<{ name: string }>("SELECT DATABASE() AS name", {
          type: QueryTypes.SELECT,
        });
        expect(name).toBe("shop_tlscheck");
      } finally {
        await infra.close();
      }
    });

    it("cannot connect without TLS (the server's account requires it)", async () => {
      const infra = new Infrastructure(loadConfig({ MYSQL_URL: url }));
      try {
        await expect(infra.database("plain")).rejects.toThrow(/Access denied/);
      } finally {
        await infra.close();
      }
    });

    it("refuses the server when its CA is not trusted (verification is on by default)", async () => {
      const infra = new Infrastructure(loadConfig({ MYSQL_URL: url, MYSQL_TLS: "on" }));
      try {
        await expect(infra.database("untrusted")).rejects.toThrow(/certificate/);
      } finally {
        await infra.close();
      }
    });
  });

if (serverAvailable("mysql"))
  describe("MYSQL_TLS=on against a server without TLS", () => {
    it("refuses to connect rather than fall back to plain text", async () => {
      const infra = new Infrastructure(loadConfig({ MYSQL_URL: servers.mysql!, MYSQL_TLS: "on" }));
      try {
        await expect(infra.database("never")).rejects.toThrow(/secure connection/);
      } finally {
        await infra.close();
      }
    });
  });
