import { ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import path from "node:path";
import type { ServiceBroker } from "moleculer";
import { loadConfig } from "../../lib/config";
import { orderReference } from "../../lib/contracts/orders";
import type { ProductSnapshot } from "../../lib/contracts/catalog";
import { infrastructureOf } from "../../lib/infra";
import { createEnvelope, headersFor } from "../../lib/messaging/envelope";
import { OutboxStore, outboxRow } from "../../lib/messaging/outbox";
import { EventTypes, Topics } from "../../lib/messaging/topics";
import { clearCaches } from "../../lib/ops/caches.command";
import { listDeadLetters, replayDeadLetter, showDeadLetter } from "../../lib/ops/dlq.command";
import { showOrder } from "../../lib/ops/order.command";
import { outboxStatus } from "../../lib/ops/outbox.command";
import { Cell, renderReport, Report, Table, tablesOf } from "../../lib/ops/output";
import { queuesStatus, retryFailedJobs } from "../../lib/ops/queues.command";
import { replCommands } from "../../lib/ops/repl-commands";
import { createReplBroker } from "../../lib/ops/repl-node";
import { rebuildSearch, searchStatus } from "../../lib/ops/search.command";
import { SEARCH_REBUILD_PROGRESS_EVENT } from "../../lib/ops/search-progress";
import { card, orderOf, Storefront } from "../helpers/checkout";
import { startSmtpServer, TestSmtpServer } from "../helpers/outbound";
import { realServersFor, uniqueName } from "../helpers/servers";
import { SplitCluster, startSplitCluster } from "../helpers/split-cluster";
import { waitFor } from "../helpers/wait";

/**
 * The operator commands of `npm run repl`, each run against a running split
 * cluster (the node groups as brokers meeting over NATS) from an operator
 * node built as bin/repl.ts builds it, joined to the cluster like any node.
 * What each command reports is checked against what really happened in the
 * cluster; the REPL process itself is started once to show the wiring.
 */
const nats = realServersFor("nats");

const ROOT = path.resolve(__dirname, "../..");
const NODE = path.join(ROOT, "node_modules/.bin/node");
const TS_NODE = path.join(ROOT, "node_modules/ts-node/dist/bin.js");

interface Product extends ProductSnapshot {
  availability: { available: number; inStock: boolean };
}

/** A table's rows as objects keyed by column. */
function records(table: Table): Record<string, Cell>[] {
  return table.rows.map((row) => Object.fromEntries(table.columns.map((c, i) => [c, row[i]])));
}

function tableTitled(report: Report, title: string | RegExp): Table {
  const found = tablesOf(report).find((t) =>
    typeof title === "string" ? t.title === title : title.test(t.title ?? ""),
  );
  if (!found) throw new Error(`no table "${title}" in:\n${renderReport(report)}`);
  return found;
}

if (nats.length)
  describe("operator commands against a split cluster", () => {
    const admin = {
      email: `${uniqueName("admin")}@example.com`,
      password: randomBytes(18).toString("base64url"),
    };
    let smtp: TestSmtpServer;
    let cluster: SplitCluster;
    let shop: Storefront;
    let repl: ServiceBroker;

    beforeAll(async () => {
      smtp = await startSmtpServer();
      cluster = await startSplitCluster({
        admin,
        // One attempt per notification: a refused email becomes a failed job at once.
        env: { SMTP_URL: smtp.url, NOTIFICATION_MAX_ATTEMPTS: "1" },
      });
      shop = await Storefront.open(cluster.gateway, admin.email, admin.password);
      repl = createReplBroker(loadConfig(cluster.env), { namespace: cluster.namespace });
      await repl.start();
      await repl.waitForServices(
        ["orders", "deadletters", "notifications", "payments", "search", "catalog"],
        20_000,
      );
      // The search node must know the operator node listens for rebuild progress.
      await waitFor(
        () =>
          cluster
            .node("catalog")
            .registry.getEventList({ withEndpoints: true })
            .some(
              (e) =>
                e.name === SEARCH_REBUILD_PROGRESS_EVENT &&
                e.endpoints?.some((ep) => ep.nodeID === repl.nodeID),
            ),
        { timeoutMs: 10_000 },
      );
    }, 90_000);

    afterAll(async () => {
      await repl?.stop();
      await cluster?.stop();
      await smtp?.close();
    });

    it("order <id>: any customer's order with lines, totals, payment and saga timeline", async () => {
      const productId = await shop.product(2499, 10);
      const shopper = await shop.shopper();
      const placed = await shop.checkout(
        shopper,
        orderOf([{ productId, quantity: 2 }], card("tok_visa")),
      );
      const order = await shop.awaitOrder(shopper, placed.id);

      const reference = orderReference(placed.id);
      const report = await showOrder(repl, placed.id);
      const title = `Order ${placed.id} (${reference})`;
      const facts = Object.fromEntries(
        records(tableTitled(report, title)).map((r) => [r.field, r.value]),
      );
      expect(facts).toMatchObject({
        status: "CONFIRMED",
        customer: shopper.id,
        total: "49.98 EUR (2 item(s))",
        "payment method": "card",
      });
      expect(facts.payment).toMatch(new RegExp(`^SUCCEEDED ${order.payment!.id}`));
      expect(records(tableTitled(report, "Lines"))).toEqual([
        expect.objectContaining({
          product: productId,
          quantity: 2,
          "unit price": "24.99 EUR",
          "line total": "49.98 EUR",
        }),
      ]);
      // The same timeline the customer sees, with the messages of each step.
      const timeline = records(tableTitled(report, "Saga timeline"));
      expect(timeline.map((s) => s.step)).toEqual(order.timeline.map((s) => s.step));
      expect(timeline.map((s) => s.message)).toEqual(order.timeline.map((s) => s.messageId));
      expect(renderReport(report)).toContain("STOCK_COMMITTED");

      await expect(showOrder(repl, randomUUID())).rejects.toMatchObject({ type: "NOT_FOUND" });

      // By the reference its emails carry, as a customer quotes it, in either case.
      const byReference = await showOrder(repl, reference.toLowerCase());
      expect(records(tableTitled(byReference, title))).toEqual(
        records(tableTitled(report, title)).map((r) =>
          // Read a moment later: only the update time may have moved.
          r.field === "updated" ? expect.objectContaining({ field: "updated" }) : r,
        ),
      );
      const unused = orderReference(randomUUID());
      expect(renderReport(await showOrder(repl, unused))).toBe(
        `No order has the reference ${unused}.`,
      );
    });

    it("outbox: a row left unpublished shows as backlog until the sweeper sends it", async () => {
      const services = (report: Report) => records(tableTitled(report, "Outboxes"));
      const before = services(await outboxStatus(repl));
      expect(before.map((r) => r.service)).toEqual([
        "catalog",
        "inventory",
        "orders",
        "payments",
        "users",
      ]);
      expect(before.find((r) => r.service === "orders")).toMatchObject({
        node: cluster.node("orders").nodeID,
      });
      expect(before.find((r) => r.service === "inventory")).toMatchObject({
        node: cluster.node("catalog").nodeID,
        unpublished: 0,
      });

      // A message committed by inventory whose publish never happened (its node died after commit).
      const db = await infrastructureOf(cluster.node("catalog")).database("inventory");
      const envelope = createEnvelope({
        type: EventTypes.StockReleased,
        aggregateId: randomUUID(),
        payload: { reservationId: randomUUID(), lines: [] },
      });
      await db.transaction((tx) =>
        new OutboxStore(db).insert(tx, [
          outboxRow(
            envelope,
            Topics.InventoryEvents,
            headersFor(envelope, { source: "inventory" }),
          ),
        ]),
      );
      const backlog = services(await outboxStatus(repl)).find((r) => r.service === "inventory");
      expect(backlog).toMatchObject({ unpublished: 1 });
      expect(backlog!["oldest waiting"]).toMatch(/ms|s$/);

      await waitFor(
        async () =>
          services(await outboxStatus(repl)).find((r) => r.service === "inventory")!.unpublished ===
          0,
        { timeoutMs: 15_000, intervalMs: 250 },
      );
    });

    it("dlq list, show and replay: a poison message the saga cannot apply", async () => {
      // A StockReleased that names no reservation: the orders saga cannot apply it.
      const envelope = createEnvelope({
        type: EventTypes.StockReleased,
        aggregateId: randomUUID(),
        payload: { lines: [] },
      });
      await repl.sendToChannel(Topics.InventoryEvents, envelope, {
        headers: { ...headersFor(envelope, { source: "inventory" }) },
      });

      const listed = await waitFor(
        async () => {
          const rows = records(
            tableTitled(await listDeadLetters(repl, Topics.InventoryEvents), /^Dead letters/),
          );
          return rows.find((r) => r.aggregate === envelope.aggregateId);
        },
        { timeoutMs: 15_000, intervalMs: 200 },
      );
      expect(listed).toMatchObject({
        topic: Topics.InventoryEvents,
        group: "orders",
        type: EventTypes.StockReleased,
        status: "dead",
        replays: 0,
      });
      expect(String(listed.error)).toContain("has no reservationId");

      const shown = await showDeadLetter(repl, String(listed.id));
      const fields = Object.fromEntries(
        records(tableTitled(shown, `Dead letter #${listed.id}`)).map((r) => [r.field, r.value]),
      );
      expect(fields).toMatchObject({ "message id": envelope.id, group: "orders", status: "dead" });
      const headers = Object.fromEntries(
        records(tableTitled(shown, "Headers")).map((r) => [r.header, r.value]),
      );
      expect(headers).toMatchObject({ messageId: envelope.id, source: "inventory" });
      expect(JSON.parse(shown[shown.length - 1] as string)).toEqual(envelope);

      const replayed = await replayDeadLetter(repl, String(listed.id));
      expect(replayed).toEqual([expect.stringContaining(`Replayed dead letter #${listed.id}`)]);
      // Delivered again to the saga, which still cannot apply it: dead again, one replay on record.
      const again = await waitFor(
        async () => {
          const rows = records(tableTitled(await listDeadLetters(repl), /^Dead letters/));
          const row = rows.find((r) => r.id === listed.id);
          return row?.status === "dead" && row.replays === 1 ? row : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 200 },
      );
      expect(String(again.received) > String(listed.received)).toBe(true);

      await expect(showDeadLetter(repl, "999999")).rejects.toMatchObject({ type: "NOT_FOUND" });
    });

    it("queues and queues retry: a failed email job is retried once the mail server takes it", async () => {
      const email = `${uniqueName("refused")}@example.com`;
      smtp.refuse(email, Infinity);
      const registered = await shop.api("POST", "/auth/register", {
        body: { email, password: "correct horse battery staple", name: "Refused Ruth" },
      });
      expect(registered.status).toBe(201);

      const failedJob = await waitFor(
        async () => {
          const report = await queuesStatus(repl);
          return records(tableTitled(report, /^Failed jobs/)).find(
            (r) => r.queue === "notifications" && String(r.reason).includes("Mailbox busy"),
          );
        },
        { timeoutMs: 15_000, intervalMs: 200 },
      );
      expect(failedJob).toMatchObject({ node: cluster.node("notifications").nodeID, attempts: 1 });
      const counts = records(tableTitled(await queuesStatus(repl), "Queues"));
      expect(counts.map((r) => [r.queue, r.service, r.node])).toEqual([
        ["notifications", "notifications", cluster.node("notifications").nodeID],
        ["payment-callbacks", "payments", cluster.node("payments").nodeID],
        ["payment-retries", "payments", cluster.node("payments").nodeID],
      ]);
      expect(counts[0]).toMatchObject({ adapter: "memory", failed: 1 });

      smtp.refuse(email, 0);
      const retried = await retryFailedJobs(repl, "notifications", String(failedJob.job));
      expect(retried[0]).toBe(`Retried 1 failed job(s) of notifications (job ${failedJob.job})`);
      const mail = await smtp.waitForMail(email, /Welcome/);
      expect(mail.subject).toBe("Welcome to the shop, Refused Ruth");
      await waitFor(async () => {
        const rows = records(tableTitled(await queuesStatus(repl), "Queues"));
        return rows.find((r) => r.queue === "notifications")?.failed === 0;
      });

      await expect(retryFailedJobs(repl, "no-such-queue")).rejects.toThrow(
        'No node has a queue "no-such-queue" (queues: notifications, payment-callbacks, payment-retries)',
      );
    });

    it("search rebuild: progress while it runs, and the index rebuilt from the catalog", async () => {
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push(await shop.product(1000 + i, 3));
      // A name changed behind the catalog's back never reached the index through events.
      const token = `quokka${randomBytes(4).toString("hex")}`;
      const catalogDb = await infrastructureOf(cluster.node("catalog")).database("catalog");
      await catalogDb.sequelize.query("UPDATE products SET name = ? WHERE id = ?", {
        replacements: [`Lantern ${token}`, ids[0]],
      });
      const search = () =>
        shop.api<{ total: number; items: { id: string }[] }>("GET", `/search?q=${token}`);
      expect((await search()).body.total).toBe(0);

      const progress: string[] = [];
      const report = await rebuildSearch(repl, { clear: true, pageSize: 2 }, (line) =>
        progress.push(line),
      );
      const searchNode = cluster.node("catalog").nodeID;
      expect(report[0]).toBe("Search index rebuilt on 1 node(s)");
      const [result] = records(tablesOf(report)[0]);
      expect(result).toMatchObject({ node: searchNode, error: null });
      expect(progress.slice(0, 2)).toEqual([
        `${searchNode}: 2 products indexed so far`,
        `${searchNode}: 4 products indexed so far`,
      ]);

      const status = records(tableTitled(await searchStatus(repl), "Search"));
      expect(status).toEqual([
        expect.objectContaining({
          node: searchNode,
          adapter: "minisearch",
          documents: result.indexed,
        }),
      ]);
      expect(Number(result.indexed)).toBeGreaterThanOrEqual(5);
      const found = await search();
      expect(found.body.items.map((hit) => hit.id)).toEqual([ids[0]]);
    });

    it("caches clear: cached product reads on the catalog node are dropped", async () => {
      const productId = await shop.product(750, 1);
      const read = () => shop.api<Product>("GET", `/products/${productId}`);
      // Its stock level arrives through events, and each one cleans the cache: wait for it first.
      const { name: original } = await waitFor(async () => {
        const product = (await read()).body;
        return product.availability.available === 1 ? product : undefined;
      });
      const catalogDb = await infrastructureOf(cluster.node("catalog")).database("catalog");
      await catalogDb.sequelize.query("UPDATE products SET name = 'Renamed Quietly' WHERE id = ?", {
        replacements: [productId],
      });
      // Served from the catalog node's cache: the quiet change is not seen.
      expect((await read()).body.name).toBe(original);

      const report = await clearCaches(repl);
      expect(records(tableTitled(report, "Caches"))).toEqual([
        { service: "catalog", nodes: cluster.node("catalog").nodeID, result: "asked to clean" },
      ]);
      await waitFor(async () => (await read()).body.name === "Renamed Quietly", {
        timeoutMs: 5000,
        intervalMs: 50,
      });
    });

    it("prints each command's report, and a usage line for a wrong one", async () => {
      const printed: string[] = [];
      const commands = replCommands((text) => printed.push(text));
      const run = (name: string, params: Record<string, unknown>) =>
        commands
          .find((c) => c.command.split(" ")[0] === name)!
          .action(repl, { options: {}, ...params });

      await run("outbox", {});
      expect(printed.pop()).toMatch(/^Outboxes\nservice +node +unpublished +oldest waiting\n/);
      await run("dlq", { what: "purge" });
      expect(printed.pop()).toBe("usage: dlq list [topic] | dlq show <id> | dlq replay <id>");
      await run("order", { id: "not-a-uuid" });
      expect(printed.pop()).toMatch(
        /^Error: .*\(VALIDATION_ERROR\): The 'id' field must be a valid UUID/,
      );
      await run("caches", { what: "clear" });
      expect(printed.pop()).toContain("catalog");
    });

    describe("npm run repl", () => {
      function startRepl(env: Record<string, string>): {
        child: ChildProcess;
        output: () => string;
        exited: Promise<number | null>;
      } {
        const child = spawn(NODE, [TS_NODE, "--transpile-only", "bin/repl.ts"], {
          cwd: ROOT,
          env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: "test", ...env },
          stdio: ["pipe", "pipe", "pipe"],
        });
        let out = "";
        child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
        child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
        const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
        return { child, output: () => out, exited };
      }

      it("refuses to start without a TRANSPORTER", async () => {
        const { output, exited } = startRepl({});
        expect(await exited).toBe(1);
        expect(output()).toContain("TRANSPORTER is not set");
      }, 30_000);

      it("joins the cluster and answers an operator command", async () => {
        const productId = await shop.product(1250, 2);
        const shopper = await shop.shopper();
        const placed = await shop.checkout(
          shopper,
          orderOf([{ productId, quantity: 1 }], card("tok_chargeDeclined")),
        );
        await shop.awaitOrder(shopper, placed.id);

        const nodeID = uniqueName("repl");
        const { child, output, exited } = startRepl({
          ...cluster.env,
          NAMESPACE: cluster.namespace,
          NODE_ID: nodeID,
        });
        try {
          await waitFor(() => output().includes("commerce $"), { timeoutMs: 20_000 });
          // Seen by the cluster, and so seeing it.
          await waitFor(() => cluster.node("orders").registry.nodes.get(nodeID)?.available, {
            timeoutMs: 10_000,
          });
          child.stdin!.write(`order ${placed.id}\n`);
          await waitFor(() => output().includes("Saga timeline"), { timeoutMs: 10_000 });
          expect(output()).toContain(`Order ${placed.id}`);
          expect(output()).toMatch(/cancel reason +PAYMENT_DECLINED/);
          child.stdin!.end();
          expect(await exited).toBe(0);
        } finally {
          child.kill();
        }
      }, 60_000);
    });
  });
