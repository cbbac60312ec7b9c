import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { EmlFileEmailTransport } from "../../../services/notifications/transports/email";

/** The embedded email outbox: one complete .eml file per notification, whatever happens to its folder. */
describe("emails as .eml files", () => {
  let root: string;
  beforeEach(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), "eml-"))));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const email = (n: number) => ({
    notificationId: `00000000-0000-4000-8000-00000000000${n}`,
    to: "ann@example.com",
    subject: `Mail ${n}`,
    text: `Body ${n}`,
    html: `<p>Body ${n}</p>`,
  });
  const files = (dir: string) => fs.readdirSync(dir).sort();

  it("writes each email as <notification id>.eml, and a retry replaces its file", async () => {
    const dir = path.join(root, "outbox-mail");
    const transport = new EmlFileEmailTransport(dir, "shop@example.com");
    await transport.send(email(1));
    await transport.send(email(2));
    await transport.send({ ...email(2), subject: "Mail 2, again" });
    expect(files(dir)).toEqual([
      `${email(1).notificationId}.eml`,
      `${email(2).notificationId}.eml`,
    ]);
    const second = fs.readFileSync(path.join(dir, `${email(2).notificationId}.eml`), "utf8");
    expect(second).toContain("Subject: Mail 2, again");
    expect(second).toContain("To: ann@example.com");
    transport.close();
  });

  it("makes the folder again when it was removed while the node ran", async () => {
    const dir = path.join(root, "outbox-mail");
    const transport = new EmlFileEmailTransport(dir, "shop@example.com");
    await transport.send(email(1));
    fs.rmSync(dir, { recursive: true });
    await transport.send(email(2));
    expect(files(dir)).toEqual([`${email(2).notificationId}.eml`]);
    transport.close();
  });

  it("fails a send while the folder cannot be made, and succeeds once it can", async () => {
    const blocked = path.join(root, "blocked");
    fs.writeFileSync(blocked, "a file where the folder's parent should be");
    const dir = path.join(blocked, "outbox-mail");
    const transport = new EmlFileEmailTransport(dir, "shop@example.com");
    await expect(transport.send(email(1))).rejects.toThrow(/ENOTDIR|EEXIST/);
    fs.rmSync(blocked);
    await transport.send(email(1));
    expect(files(dir)).toEqual([`${email(1).notificationId}.eml`]);
    transport.close();
  });
});
