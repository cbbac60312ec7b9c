import { Client, errors } from "@elastic/elasticsearch";
import Mock from "@elastic/elasticsearch-mock";
import { uniqueName } from "./servers";

/**
 * Elasticsearch for the search suites. Like servers.ts, a real cluster is
 * used when TEST_ELASTICSEARCH_URL is set (`npm run test:infra`, the Compose
 * stack). Unlike servers.ts, its absence is never an error, on CI neither:
 * no Elasticsearch can be installed on our machines or on CI (see
 * STACK.md), so there the adapter runs against @elastic/elasticsearch-mock —
 * the official client's own HTTP-level stand-in — and the real-cluster cases
 * are left out.
 */
export const elasticsearchUrl = process.env.TEST_ELASTICSEARCH_URL || undefined;

/** A client of the real test cluster. */
export function realClient(): Client {
  return new Client({ node: elasticsearchUrl! });
}

/** An index name unique to the caller (lower case, as Elasticsearch wants). */
export function freshIndexName(): string {
  return uniqueName("test-products").toLowerCase();
}

export interface RecordedRequest {
  method: string;
  path: string;
  querystring: Record<string, string>;
  // The mock parses JSON bodies, and NDJSON (bulk) into an array of lines.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

type Responder = (req: RecordedRequest) => unknown;

/**
 * The official mock behind a client, recording every request. Answers are
 * queued per `METHOD path` (`answer`, used once each, in order) over
 * defaults (`always`); an unexpected request gets a 404 naming it.
 */
export class ElasticsearchMock {
  readonly requests: RecordedRequest[] = [];
  private readonly queued = new Map<string, Responder[]>();
  private readonly defaults = new Map<string, Responder>();
  private readonly mock = new Mock();

  constructor() {
    this.mock.add(
      { method: ["GET", "POST", "PUT", "HEAD", "DELETE"], path: "*" },
      (params) => this.respond(params as unknown as RecordedRequest) as Record<string, unknown>,
    );
  }

  client(): Client {
    return new Client({ node: "http://localhost:9200", Connection: this.mock.getConnection() });
  }

  /** The next `method path` request gets this answer (a function gets the request). */
  answer(method: string, path: string, response: unknown): this {
    const key = `${method} ${path}`;
    const list = this.queued.get(key) ?? [];
    list.push(typeof response === "function" ? (response as Responder) : () => response);
    this.queued.set(key, list);
    return this;
  }

  /** Every `method path` request without a queued answer gets this one. */
  always(method: string, path: string, response: unknown): this {
    this.defaults.set(
      `${method} ${path}`,
      typeof response === "function" ? (response as Responder) : () => response,
    );
    return this;
  }

  /** Requests made so far to `method path`. */
  sent(method: string, path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path === path);
  }

  reset(): void {
    this.requests.length = 0;
    this.queued.clear();
  }

  private respond(req: RecordedRequest): unknown {
    this.requests.push(req);
    const key = `${req.method} ${req.path}`;
    const responder = this.queued.get(key)?.shift() ?? this.defaults.get(key);
    if (!responder) return errorResponse(404, "mock_not_found", `no answer for ${key}`);
    return responder(req);
  }
}

/** An Elasticsearch error answer, as the mock returns it. */
export function errorResponse(status: number, type: string, reason: string): errors.ResponseError {
  return new errors.ResponseError({
    body: { error: { type, reason, root_cause: [{ type, reason }] }, status },
    statusCode: status,
    headers: {},
    warnings: null,
    meta: {} as never,
  });
}

/** HEAD answered 404 (index missing). */
export function notFound(): errors.ResponseError {
  return new errors.ResponseError({
    body: "",
    statusCode: 404,
    headers: {},
    warnings: null,
    meta: {} as never,
  });
}
