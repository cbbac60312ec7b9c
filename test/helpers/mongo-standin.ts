import net from "node:net";
import { deserialize, type Document, EJSON, Long, ObjectId, serialize } from "bson";
import { find as findDocuments, Query, update as applyOperators } from "mingo";

/**
 * A MongoDB wire-protocol stand-in for tests. This is not MongoDB: it speaks
 * enough of its wire protocol for the official driver and Mongoose to run the
 * cart store contract suite (no MongoDB server can be installed on our
 * machines; ARCHITECTURE §2). The real server is used whenever TEST_MONGO_URL
 * is set.
 *
 * What it does like MongoDB: OP_MSG framing (kind 0 body, kind 1 document
 * sequences), the legacy OP_QUERY handshake, a standalone server's hello,
 * query matching, sorting, projection and update operators (through mingo),
 * cursors with getMore, and unique indexes (sparse or partial) answering
 * duplicate-key write errors (code 11000) with MongoDB's fields.
 * What it leaves out: authentication, transactions, aggregation, TLS,
 * compression, anything a command it does not know would need (it answers
 * CommandNotFound, as MongoDB does).
 *
 * Each message is handled to completion before the next one is read, so
 * every write is atomic against every other, as a single-document write is
 * in MongoDB.
 */

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const FIRST_BATCH_SIZE = 101; // MongoDB's default for a find without batchSize

class CommandError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
  ) {
    super(message);
  }
}

/** A unique index clash, carrying MongoDB's write error for it (code 11000, keyPattern, keyValue). */
class DuplicateKey extends Error {
  constructor(readonly writeError: Document) {
    super(writeError.errmsg);
  }
}

interface IndexSpec {
  v: number;
  name: string;
  key: Record<string, number>;
  unique?: boolean;
  sparse?: boolean;
  partialFilterExpression?: Document;
}

/** A deep copy that keeps BSON types (ObjectId, Long, Date), unlike structuredClone. */
const copy = (doc: Document): Document => deserialize(serialize(doc));
const sameBytes = (a: Document, b: Document) => Buffer.from(serialize(a)).equals(serialize(b));
const idKey = (id: unknown) => EJSON.stringify({ id }, { relaxed: false });
const valueAt = (doc: Document, path: string): unknown =>
  path.split(".").reduce<unknown>((v, k) => (v as Document | undefined)?.[k], doc);

class Collection {
  readonly docs = new Map<string, Document>();
  readonly indexes: IndexSpec[] = [{ v: 2, key: { _id: 1 }, name: "_id_" }];

  constructor(readonly ns: string) {}

  all(): Document[] {
    return [...this.docs.values()];
  }

  /** Stores `doc` (new, or replacing the stored one with its _id) after checking every unique index. */
  write(doc: Document, isNew: boolean): void {
    const id = idKey(doc._id);
    for (const index of this.indexes) {
      const key = this.indexKey(index, doc);
      if (key === undefined) continue;
      for (const [otherId, other] of this.docs) {
        if (!isNew && otherId === id) continue;
        if (this.indexKey(index, other) === key) throw this.duplicate(index, doc);
      }
    }
    this.docs.set(id, doc);
  }

  /** The index key of `doc` as a comparable string; undefined when the index leaves `doc` out. */
  indexKey(index: IndexSpec, doc: Document): string | undefined {
    if (index.name !== "_id_" && !index.unique) return undefined;
    const pfe = index.partialFilterExpression;
    if (pfe && !new Query(pfe, {}).test(doc)) return undefined;
    const values = Object.keys(index.key).map((field) => valueAt(doc, field));
    if (index.sparse && values.every((v) => v === undefined)) return undefined;
    // A missing field is indexed as null, so two documents missing it clash.
    return EJSON.stringify(
      values.map((v) => v ?? null),
      { relaxed: false },
    );
  }

  duplicate(index: IndexSpec, doc: Document): DuplicateKey {
    const keyValue = Object.fromEntries(
      Object.keys(index.key).map((field) => [field, valueAt(doc, field) ?? null]),
    );
    const shown = Object.entries(keyValue)
      .map(([field, value]) => `${field}: ${EJSON.stringify(value)}`)
      .join(", ");
    const errmsg = `E11000 duplicate key error collection: ${this.ns} index: ${index.name} dup key: { ${shown} }`;
    return new DuplicateKey({ code: 11000, errmsg, keyPattern: index.key, keyValue });
  }
}

const isReplacement = (u: Document) => Object.keys(u).every((k) => !k.startsWith("$"));

/** The document an upsert inserts: the query's equality fields, then the update. */
function upsertDocument(q: Document, u: Document): Document {
  if (isReplacement(u)) return { _id: q._id ?? new ObjectId(), ...u };
  const base: Document = {};
  for (const [k, v] of Object.entries(q)) {
    const isOperatorObject = v && typeof v === "object" && Object.keys(v)[0]?.startsWith("$");
    if (!k.startsWith("$") && !isOperatorObject) base[k] = v;
  }
  const { $setOnInsert, ...rest } = u;
  applyOperators(base, { ...rest, $set: { ...rest.$set, ...$setOnInsert } });
  return { _id: base._id ?? new ObjectId(), ...base };
}

function updatedDocument(current: Document, u: Document): Document {
  if (isReplacement(u)) {
    if (u._id !== undefined && idKey(u._id) !== idKey(current._id))
      throw new CommandError(66, "ImmutableField", "the field '_id' cannot be changed");
    return { _id: current._id, ...u };
  }
  const next = copy(current);
  const { $setOnInsert, ...operators } = u;
  void $setOnInsert; // applies to upserts only
  applyOperators(next, operators);
  return next;
}

/**
 * Applies each statement of a write command. A duplicate key fails only its
 * statement (a write error, the command still ok: 1) and stops an ordered batch.
 */
function eachStatement(
  body: Document,
  statements: Document[],
  apply: (statement: Document, index: number) => void,
): { writeErrors?: Document[] } {
  const writeErrors: Document[] = [];
  for (const [index, statement] of statements.entries()) {
    try {
      apply(statement, index);
    } catch (err) {
      if (!(err instanceof DuplicateKey)) throw err;
      writeErrors.push({ index, ...err.writeError });
      if (body.ordered !== false) break;
    }
  }
  return writeErrors.length ? { writeErrors } : {};
}

class Server {
  private readonly databases = new Map<string, Map<string, Collection>>();
  private readonly cursors = new Map<number, { ns: string; docs: Document[] }>();
  private nextCursorId = 1;
  private nextConnectionId = 1;

  connectionId(): number {
    return this.nextConnectionId++;
  }

  private collection(db: string, name: string, create: true): Collection;
  private collection(db: string, name: string, create?: false): Collection | undefined;
  private collection(db: string, name: string, create = false): Collection | undefined {
    let collections = this.databases.get(db);
    if (!collections && create) this.databases.set(db, (collections = new Map()));
    let coll = collections?.get(name);
    if (!coll && collections && create)
      collections.set(name, (coll = new Collection(`${db}.${name}`)));
    return coll;
  }

  /** Runs one command; failures answer like MongoDB's (ok: 0, errmsg, code, codeName). */
  run(body: Document, connectionId: number): Document {
    const name = Object.keys(body)[0] ?? "";
    const db = String(body.$db ?? "admin");
    try {
      switch (name) {
        case "hello":
        case "isMaster":
        case "ismaster":
          return hello(name === "hello", connectionId);
        case "ping":
        case "endSessions":
        case "getParameter":
          return { ok: 1 };
        case "buildInfo":
          return { version: "7.0.0", versionArray: [7, 0, 0, 0], ok: 1 };
        case "insert":
          return this.insert(db, body);
        case "find":
          return this.find(db, body);
        case "getMore":
          return this.getMore(body);
        case "killCursors":
          for (const id of body.cursors as number[]) this.cursors.delete(Number(id));
          return { cursorsKilled: body.cursors, ok: 1 };
        case "update":
          return this.update(db, body);
        case "delete":
          return this.delete(db, body);
        case "createIndexes":
          return this.createIndexes(db, body);
        case "listIndexes":
          return this.listIndexes(db, body);
        case "drop":
          this.databases.get(db)?.delete(body.drop);
          return { ok: 1 };
        case "dropDatabase":
          this.databases.delete(db);
          return { dropped: db, ok: 1 };
        default:
          throw new CommandError(59, "CommandNotFound", `no such command: '${name}'`);
      }
    } catch (err) {
      return failure(err);
    }
  }

  private insert(db: string, body: Document): Document {
    const coll = this.collection(db, body.insert, true);
    let n = 0;
    const writeErrors = eachStatement(body, body.documents, (doc) => {
      coll.write(doc._id === undefined ? { _id: new ObjectId(), ...doc } : doc, true);
      n++;
    });
    return { n, ...writeErrors, ok: 1 };
  }

  private find(db: string, body: Document): Document {
    const coll = this.collection(db, body.find);
    const projection =
      body.projection && Object.keys(body.projection).length ? body.projection : undefined;
    const cursor = findDocuments(coll?.all() ?? [], body.filter ?? {}, projection);
    if (body.sort) cursor.sort(body.sort);
    if (body.skip) cursor.skip(body.skip);
    if (body.limit) cursor.limit(Math.abs(body.limit));
    const docs = (cursor.all() as Document[]).map(copy);
    const ns = `${db}.${body.find}`;
    const firstBatch = docs.splice(0, body.batchSize || FIRST_BATCH_SIZE);
    return {
      cursor: { firstBatch, id: this.keepCursor(ns, body.singleBatch ? [] : docs), ns },
      ok: 1,
    };
  }

  /** Keeps what the first batch left for getMore; id 0 means the cursor is exhausted. */
  private keepCursor(ns: string, rest: Document[]): Long {
    if (!rest.length) return Long.fromNumber(0);
    const id = this.nextCursorId++;
    this.cursors.set(id, { ns, docs: rest });
    return Long.fromNumber(id);
  }

  private getMore(body: Document): Document {
    const id = Number(body.getMore);
    const cursor = this.cursors.get(id);
    if (!cursor) throw new CommandError(43, "CursorNotFound", `cursor id ${id} not found`);
    const nextBatch = cursor.docs.splice(0, body.batchSize || cursor.docs.length);
    if (!cursor.docs.length) this.cursors.delete(id);
    const nextId = Long.fromNumber(cursor.docs.length ? id : 0);
    return { cursor: { nextBatch, id: nextId, ns: cursor.ns }, ok: 1 };
  }

  private update(db: string, body: Document): Document {
    const coll = this.collection(db, body.update, true);
    const upserted: Document[] = [];
    let n = 0;
    let nModified = 0;
    const writeErrors = eachStatement(body, body.updates, ({ q, u, multi, upsert }, index) => {
      if (Array.isArray(u))
        throw new CommandError(2, "BadValue", "pipeline updates are not supported by the stand-in");
      const query = new Query(q, {});
      const matches = coll.all().filter((doc) => query.test(doc));
      for (const current of multi ? matches : matches.slice(0, 1)) {
        const next = updatedDocument(current, u);
        n++;
        if (sameBytes(current, next)) continue; // MongoDB does not count a no-op as modified
        coll.write(next, false);
        nModified++;
      }
      if (!matches.length && upsert) {
        const doc = upsertDocument(q, u);
        coll.write(doc, true);
        n++;
        upserted.push({ index, _id: doc._id });
      }
    });
    return { n, nModified, ...(upserted.length ? { upserted } : {}), ...writeErrors, ok: 1 };
  }

  private delete(db: string, body: Document): Document {
    const coll = this.collection(db, body.delete);
    let n = 0;
    for (const { q, limit } of body.deletes as Document[]) {
      const query = new Query(q, {});
      const matches = (coll?.all() ?? []).filter((doc) => query.test(doc));
      for (const doc of limit === 1 ? matches.slice(0, 1) : matches) {
        coll!.docs.delete(idKey(doc._id));
        n++;
      }
    }
    return { n, ok: 1 };
  }

  private createIndexes(db: string, body: Document): Document {
    const createdCollectionAutomatically = !this.collection(db, body.createIndexes);
    const coll = this.collection(db, body.createIndexes, true);
    const numIndexesBefore = coll.indexes.length;
    for (const spec of body.indexes as IndexSpec[]) {
      if (coll.indexes.some((index) => index.name === spec.name)) continue; // already built
      const index = { ...spec, v: 2 };
      // Like MongoDB, a unique index cannot be built over documents that already clash.
      const seen = new Set<string>();
      for (const doc of coll.all()) {
        const key = coll.indexKey(index, doc);
        if (key === undefined) continue;
        if (seen.has(key)) {
          throw new CommandError(11000, "DuplicateKey", coll.duplicate(index, doc).message);
        }
        seen.add(key);
      }
      coll.indexes.push(index);
    }
    const numIndexesAfter = coll.indexes.length;
    return { numIndexesBefore, numIndexesAfter, createdCollectionAutomatically, ok: 1 };
  }

  private listIndexes(db: string, body: Document): Document {
    const coll = this.collection(db, body.listIndexes);
    if (!coll) throw new CommandError(26, "NamespaceNotFound", `ns does not exist: ${db}`);
    const firstBatch = coll.indexes.map(copy);
    return { cursor: { firstBatch, id: Long.fromNumber(0), ns: coll.ns }, ok: 1 };
  }
}

function failure(err: unknown): Document {
  if (err instanceof CommandError)
    return { ok: 0, errmsg: err.message, code: err.code, codeName: err.codeName };
  return { ok: 0, errmsg: String(err), code: 1, codeName: "InternalError" };
}

/** A standalone server's handshake answer (no setName, no topologyVersion: the driver polls). */
function hello(isHelloCommand: boolean, connectionId: number): Document {
  return {
    ...(isHelloCommand ? { isWritablePrimary: true } : { ismaster: true }),
    helloOk: true,
    maxBsonObjectSize: 16777216,
    maxMessageSizeBytes: 48000000,
    maxWriteBatchSize: 100000,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId,
    minWireVersion: 0,
    maxWireVersion: 21,
    readOnly: false,
    ok: 1,
  };
}

let nextRequestId = 1;

function frame(opCode: number, responseTo: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(16);
  header.writeInt32LE(16 + payload.length, 0);
  header.writeInt32LE(nextRequestId++, 4);
  header.writeInt32LE(responseTo, 8);
  header.writeInt32LE(opCode, 12);
  return Buffer.concat([header, payload]);
}

/** An OP_MSG body: kind 0 is the command, each kind 1 section an array field (e.g. `documents`). */
function readOpMsg(message: Buffer): Document {
  const checksumPresent = (message.readUInt32LE(16) & 1) !== 0;
  const end = message.length - (checksumPresent ? 4 : 0);
  let body: Document = {};
  const sequences: Document = {};
  for (let at = 20; at < end;) {
    const kind = message[at++];
    const size = message.readInt32LE(at);
    if (kind === 0) {
      body = deserialize(message.subarray(at, at + size));
    } else {
      const nameEnd = message.indexOf(0, at + 4);
      const docs: Document[] = [];
      for (let doc = nameEnd + 1; doc < at + size; doc += message.readInt32LE(doc))
        docs.push(deserialize(message.subarray(doc, doc + message.readInt32LE(doc))));
      sequences[message.toString("utf8", at + 4, nameEnd)] = docs;
    }
    at += size;
  }
  return { ...body, ...sequences };
}

/** Legacy OP_QUERY: drivers open with it; MongoDB answers only the handshake that way now. */
function answerOpQuery(server: Server, message: Buffer, connectionId: number): Buffer {
  const nsEnd = message.indexOf(0, 20);
  const queryAt = nsEnd + 1 + 8; // skip numberToSkip and numberToReturn
  const query = deserialize(message.subarray(queryAt, queryAt + message.readInt32LE(queryAt)));
  const command = query.$query ?? query;
  const name = Object.keys(command)[0]?.toLowerCase();
  const reply =
    name === "hello" || name === "ismaster"
      ? server.run(command, connectionId)
      : failure(new CommandError(352, "UnsupportedOpQueryCommand", "OP_QUERY is for hello only"));
  const prefix = Buffer.alloc(20); // responseFlags, cursorID (0), startingFrom
  prefix.writeInt32LE(1, 16); // numberReturned
  return frame(OP_REPLY, message.readInt32LE(4), Buffer.concat([prefix, serialize(reply)]));
}

function answer(server: Server, message: Buffer, connectionId: number): Buffer | undefined {
  const opCode = message.readInt32LE(12);
  if (opCode === OP_QUERY) return answerOpQuery(server, message, connectionId);
  if (opCode !== OP_MSG) return undefined; // nothing else is sent by a current driver
  const reply = server.run(readOpMsg(message), connectionId);
  const moreToCome = (message.readUInt32LE(16) & 2) !== 0; // unacknowledged write: no answer
  if (moreToCome) return undefined;
  const flagsAndKind = Buffer.from([0, 0, 0, 0, 0]);
  return frame(OP_MSG, message.readInt32LE(4), Buffer.concat([flagsAndKind, serialize(reply)]));
}

/** Reads length-prefixed messages from a stream that may split or join them arbitrarily. */
function serveConnection(server: Server, socket: net.Socket): void {
  const connectionId = server.connectionId();
  let pending = Buffer.alloc(0);
  socket.on("data", (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4 && pending.length >= pending.readInt32LE(0)) {
      const length = pending.readInt32LE(0);
      const reply = answer(server, pending.subarray(0, length), connectionId);
      pending = pending.subarray(length);
      if (reply) socket.write(reply);
    }
  });
  socket.on("error", () => socket.destroy()); // a client going away is not the server's problem
}

export interface MongoStandin {
  /** A mongodb:// URL for the official driver or Mongoose. */
  url: string;
  stop(): Promise<void>;
}

/** Starts a stand-in on a free port of 127.0.0.1; every start has its own empty data. */
export async function startMongoStandin(): Promise<MongoStandin> {
  const server = new Server();
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    serveConnection(server, socket);
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const { port } = listener.address() as net.AddressInfo;
  return {
    url: `mongodb://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        listener.close(() => resolve());
      }),
  };
}
