import net from "node:net";
import { deserialize, type Document, serialize } from "bson";
import { type Db, MongoClient, MongoServerError } from "mongodb";
import { type MongoStandin, startMongoStandin } from "../helpers/mongo-standin";

/**
 * The MongoDB wire-protocol stand-in behaves like MongoDB for what the cart
 * store relies on: checked with the official driver, and at the byte level
 * for message framing.
 */
interface OpsDoc {
  _id: string;
  n: number;
  tags?: string[];
  items?: { id: number }[];
  gone?: boolean;
  nested?: { k: string };
}

/** Documents with string ids, any other fields. */
interface Loose {
  _id: string;
  [field: string]: unknown;
}

describe("MongoDB wire-protocol stand-in", () => {
  let standin: MongoStandin;
  let client: MongoClient;
  let db: Db;
  const started: string[] = [];

  beforeAll(async () => {
    standin = await startMongoStandin();
    client = new MongoClient(`${standin.url}/standin_test`, {
      serverSelectionTimeoutMS: 5000,
      monitorCommands: true,
    });
    client.on("commandStarted", (event) => started.push(event.commandName));
    await client.connect();
    db = client.db();
  });

  afterAll(async () => {
    await client.close();
    await standin.stop();
  });

  beforeEach(async () => {
    await db.dropDatabase();
    started.length = 0;
  });

  describe("message framing", () => {
    /** An OP_MSG with one kind-0 section. */
    const opMsg = (requestId: number, body: Document) => {
      const doc = serialize(body);
      const header = Buffer.alloc(21);
      header.writeInt32LE(21 + doc.length, 0);
      header.writeInt32LE(requestId, 4);
      header.writeInt32LE(2013, 12);
      return Buffer.concat([header, doc]);
    };

    /** Collects `count` OP_MSG replies as { responseTo, body }. */
    const replies = (socket: net.Socket, count: number) =>
      new Promise<{ responseTo: number; body: Document }[]>((resolve) => {
        const out: { responseTo: number; body: Document }[] = [];
        let pending = Buffer.alloc(0);
        socket.on("data", (chunk) => {
          pending = Buffer.concat([pending, chunk]);
          while (pending.length >= 4 && pending.length >= pending.readInt32LE(0)) {
            const length = pending.readInt32LE(0);
            const responseTo = pending.readInt32LE(8);
            out.push({ responseTo, body: deserialize(pending.subarray(21, length)) });
            pending = pending.subarray(length);
          }
          if (out.length >= count) resolve(out);
        });
      });

    async function rawSocket(): Promise<net.Socket> {
      const { port } = new URL(standin.url);
      const socket = net.connect(Number(port), "127.0.0.1");
      await new Promise((resolve) => socket.once("connect", resolve));
      return socket;
    }

    it("answers two messages in one chunk and a message split byte by byte", async () => {
      const socket = await rawSocket();
      try {
        const answered = replies(socket, 3);
        socket.write(
          Buffer.concat([
            opMsg(1, { ping: 1, $db: "admin" }),
            opMsg(2, { frobnicate: 1, $db: "admin" }),
          ]),
        );
        for (const byte of opMsg(3, { buildInfo: 1, $db: "admin" })) {
          socket.write(Buffer.from([byte]));
          await new Promise((resolve) => setImmediate(resolve));
        }

        const [ping, unknown, buildInfo] = await answered;
        expect(ping).toEqual({ responseTo: 1, body: { ok: 1 } });
        expect(unknown.responseTo).toBe(2);
        expect(unknown.body).toMatchObject({ ok: 0, code: 59, codeName: "CommandNotFound" });
        expect(buildInfo.responseTo).toBe(3);
        expect(buildInfo.body).toMatchObject({ ok: 1, version: expect.any(String) });
      } finally {
        socket.destroy();
      }
    });

    it("answers a legacy OP_QUERY hello with an OP_REPLY describing a standalone server", async () => {
      const socket = await rawSocket();
      try {
        const query = serialize({ isMaster: 1, helloOk: true });
        const ns = Buffer.from("admin.$cmd\0");
        const message = Buffer.alloc(16 + 4 + ns.length + 8 + query.length);
        message.writeInt32LE(message.length, 0);
        message.writeInt32LE(7, 4);
        message.writeInt32LE(2004, 12);
        ns.copy(message, 20);
        message.writeInt32LE(-1, 20 + ns.length + 4); // numberToReturn
        Buffer.from(query).copy(message, 20 + ns.length + 8);

        const reply = await new Promise<Buffer>((resolve) => {
          socket.once("data", resolve);
          socket.write(message);
        });
        expect(reply.readInt32LE(8)).toBe(7); // responseTo
        expect(reply.readInt32LE(12)).toBe(1); // OP_REPLY
        expect(reply.readInt32LE(32)).toBe(1); // numberReturned
        expect(deserialize(reply.subarray(36))).toMatchObject({
          ismaster: true,
          maxWireVersion: 21,
          logicalSessionTimeoutMinutes: 30,
          ok: 1,
        });
      } finally {
        socket.destroy();
      }
    });

    it("carries batches larger than a TCP chunk both ways (kind-1 document sequences)", async () => {
      const big = "x".repeat(64 * 1024);
      const docs = Array.from({ length: 40 }, (_, i) => ({ _id: `d${i}`, big }));

      const inserted = await db.collection<Loose>("big").insertMany(docs);

      expect(inserted.insertedCount).toBe(40);
      expect(await db.collection<Loose>("big").find().toArray()).toEqual(docs);
    });
  });

  describe("unique indexes", () => {
    it("answers a duplicate like MongoDB: code 11000 with keyPattern and keyValue", async () => {
      const carts = db.collection<{ _id: string; userId?: string }>("carts");
      await carts.createIndex({ userId: 1 }, { unique: true });
      await carts.insertOne({ _id: "a", userId: "u1" });

      const error = await carts.insertOne({ _id: "b", userId: "u1" }).catch((err) => err);

      expect(error).toBeInstanceOf(MongoServerError);
      expect(error).toMatchObject({
        code: 11000,
        keyPattern: { userId: 1 },
        keyValue: { userId: "u1" },
      });
      expect(error.message).toMatch(/E11000 duplicate key error .* index: userId_1/);
      expect(await carts.find().toArray()).toEqual([{ _id: "a", userId: "u1" }]);
      // _id is always unique.
      await expect(carts.insertOne({ _id: "a", userId: "u2" })).rejects.toMatchObject({
        code: 11000,
        keyPattern: { _id: 1 },
      });
    });

    it("leaves out documents a partial filter or sparse index does not cover", async () => {
      const partial = db.collection<{ _id: string; activeUserId?: string | null }>("partial");
      await partial.createIndex(
        { activeUserId: 1 },
        { unique: true, partialFilterExpression: { activeUserId: { $type: "string" } } },
      );
      await partial.insertMany([{ _id: "a" }, { _id: "b" }, { _id: "c", activeUserId: null }]);
      await partial.insertOne({ _id: "d", activeUserId: "u1" });
      await expect(partial.insertOne({ _id: "e", activeUserId: "u1" })).rejects.toMatchObject({
        code: 11000,
      });

      const sparse = db.collection<{ _id: string; k?: string }>("sparse");
      await sparse.createIndex({ k: 1 }, { unique: true, sparse: true });
      await sparse.insertMany([{ _id: "a" }, { _id: "b" }]);

      // Without either, a missing field is indexed as null: a second one clashes.
      const plain = db.collection<{ _id: string; k?: string }>("plain");
      await plain.createIndex({ k: 1 }, { unique: true });
      await plain.insertOne({ _id: "a" });
      await expect(plain.insertOne({ _id: "b" })).rejects.toMatchObject({ code: 11000 });
    });

    it("rejects an update that would clash, and stops an ordered batch at the first clash", async () => {
      const coll = db.collection<{ _id: string; k: string }>("updates");
      await coll.createIndex({ k: 1 }, { unique: true });
      await coll.insertMany([
        { _id: "a", k: "1" },
        { _id: "b", k: "2" },
      ]);

      await expect(coll.updateOne({ _id: "b" }, { $set: { k: "1" } })).rejects.toMatchObject({
        code: 11000,
      });
      expect(await coll.findOne({ _id: "b" })).toEqual({ _id: "b", k: "2" });

      const ordered = await coll
        .insertMany([
          { _id: "c", k: "3" },
          { _id: "d", k: "1" },
          { _id: "e", k: "5" },
        ])
        .catch((err) => err);
      expect(ordered.code).toBe(11000);
      expect(ordered.result.insertedCount).toBe(1);
      expect(await coll.find({ _id: { $in: ["c", "d", "e"] } }).toArray()).toEqual([
        { _id: "c", k: "3" },
      ]);
    });

    it("refuses to build a unique index over documents that already clash", async () => {
      const coll = db.collection<{ _id: string; k: string }>("clash");
      await coll.insertMany([
        { _id: "a", k: "same" },
        { _id: "b", k: "same" },
      ]);
      await expect(coll.createIndex({ k: 1 }, { unique: true })).rejects.toMatchObject({
        code: 11000,
      });
      expect((await coll.listIndexes().toArray()).map((i) => i.name)).toEqual(["_id_"]);
    });
  });

  describe("cursors", () => {
    it("returns a large sorted result through getMore batches", async () => {
      const coll = db.collection<{ _id: string; n: number }>("many");
      await coll.insertMany(
        Array.from({ length: 250 }, (_, n) => ({ _id: `d${String(n).padStart(3, "0")}`, n })),
      );

      const found = await coll
        .find({ n: { $gte: 10 } }, { projection: { n: 1, _id: 0 } })
        .sort({ n: -1 })
        .batchSize(30)
        .toArray();

      expect(found).toHaveLength(240);
      expect(found[0]).toEqual({ n: 249 });
      expect(found.at(-1)).toEqual({ n: 10 });
      expect(started.filter((name) => name === "getMore")).toHaveLength(7);
      expect(await coll.find().sort({ n: 1 }).skip(5).limit(3).toArray()).toEqual([
        { _id: "d005", n: 5 },
        { _id: "d006", n: 6 },
        { _id: "d007", n: 7 },
      ]);
    });

    it("forgets a closed cursor: a later getMore is CursorNotFound", async () => {
      const coll = db.collection("closing");
      await coll.insertMany(Array.from({ length: 10 }, (_, n) => ({ n })));
      const first = await db.command({ find: "closing", batchSize: 2 });
      const id = first.cursor.id;
      expect(first.cursor.firstBatch).toHaveLength(2);

      await db.command({ killCursors: "closing", cursors: [id] });

      await expect(db.command({ getMore: id, collection: "closing" })).rejects.toMatchObject({
        code: 43,
        codeName: "CursorNotFound",
      });
    });
  });

  describe("updates and deletes", () => {
    it("applies update operators, replacements, upserts and multi updates with MongoDB's counts", async () => {
      const coll = db.collection<OpsDoc>("ops");
      await coll.insertOne({ _id: "a", n: 1, tags: ["x", "y"], gone: true, items: [{ id: 1 }] });

      await coll.updateOne(
        { _id: "a" },
        {
          $set: { "nested.k": "v" },
          $inc: { n: 2 },
          $push: { tags: "z" },
          $pull: { items: { id: { $in: [1] } } },
          $unset: { gone: "" },
        },
      );
      expect(await coll.findOne({ _id: "a" })).toEqual({
        _id: "a",
        n: 3,
        tags: ["x", "y", "z"],
        items: [],
        nested: { k: "v" },
      });

      const unchanged = await coll.updateOne({ _id: "a" }, { $set: { n: 3 } });
      expect(unchanged).toMatchObject({ matchedCount: 1, modifiedCount: 0 });
      const missed = await coll.replaceOne({ _id: "a", n: 99 }, { n: 0 });
      expect(missed).toMatchObject({ matchedCount: 0, modifiedCount: 0 });
      const replaced = await coll.replaceOne({ _id: "a", n: 3 }, { n: 4 });
      expect(replaced).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
      expect(await coll.findOne({ _id: "a" })).toEqual({ _id: "a", n: 4 });

      const upserted = await coll.updateOne({ _id: "b" }, { $set: { n: 1 } }, { upsert: true });
      expect(upserted).toMatchObject({ matchedCount: 0, upsertedCount: 1, upsertedId: "b" });
      const many = await coll.updateMany({}, { $inc: { n: 10 } });
      expect(many).toMatchObject({ matchedCount: 2, modifiedCount: 2 });
      expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual([
        { _id: "a", n: 14 },
        { _id: "b", n: 11 },
      ]);
    });

    it("deletes one or many", async () => {
      const coll = db.collection("del");
      await coll.insertMany([{ k: 1 }, { k: 1 }, { k: 1 }, { k: 2 }]);

      expect((await coll.deleteOne({ k: 1 })).deletedCount).toBe(1);
      expect((await coll.deleteMany({ k: 1 })).deletedCount).toBe(2);
      expect(await coll.find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ k: 2 }]);
    });
  });
});
