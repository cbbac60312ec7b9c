import fs from "node:fs";
import { Client, ClientOptions, errors } from "@elastic/elasticsearch";
import type { StockLevel } from "../../lib/contracts/catalog";
import type {
  ProductRemoval,
  SearchDocument,
  SearchIndex,
  SearchQuery,
  SearchResult,
  Suggestion,
  WriteOutcome,
} from "./index-port";
import {
  ACTIVE,
  INDEX_MAPPINGS,
  INDEX_SETTINGS,
  parseSearchResponse,
  parseSuggestResponse,
  removeOperations,
  searchRequest,
  stockOperations,
  suggestRequest,
  upsertOperations,
} from "./elasticsearch-requests";
import { queryTerms } from "./query-support";

/**
 * The production search index: Elasticsearch through the official client.
 * Requests and response parsing live in elasticsearch-requests.ts; this class
 * sends them. Writes go in one bulk request per call; a change is searchable
 * after the index's refresh interval (1 s by default).
 */
export interface ElasticsearchIndexOptions {
  client: Client;
  /** Index (or alias) name. */
  index: string;
  /**
   * Refresh after writes: false (default: searchable within the refresh
   * interval) or "wait_for" (the write returns once searchable; tests).
   */
  refresh?: false | "wait_for";
}

export interface ElasticsearchSettings {
  url: string;
  index: string;
  apiKey?: string;
  caFile?: string;
  tlsRejectUnauthorized: boolean;
}

/** Client options: credentials in the URL or an API key, TLS from a CA file. */
export function elasticsearchClientOptions(settings: ElasticsearchSettings): ClientOptions {
  const options: ClientOptions = {
    node: settings.url,
    requestTimeout: 30_000,
    maxRetries: 3,
  };
  if (settings.apiKey) options.auth = { apiKey: settings.apiKey };
  if (settings.caFile || !settings.tlsRejectUnauthorized) {
    options.tls = { rejectUnauthorized: settings.tlsRejectUnauthorized };
    if (settings.caFile) options.tls.ca = fs.readFileSync(settings.caFile);
  }
  return options;
}

export class ElasticsearchIndex implements SearchIndex {
  readonly adapter = "elasticsearch";
  private readonly client: Client;
  private readonly index: string;
  private readonly refresh: false | "wait_for";

  constructor(options: ElasticsearchIndexOptions) {
    this.client = options.client;
    this.index = options.index;
    this.refresh = options.refresh ?? false;
  }

  static fromSettings(settings: ElasticsearchSettings): ElasticsearchIndex {
    return new ElasticsearchIndex({
      client: new Client(elasticsearchClientOptions(settings)),
      index: settings.index,
    });
  }

  async open(): Promise<void> {
    if (await this.client.indices.exists({ index: this.index })) return;
    try {
      await this.client.indices.create({
        index: this.index,
        settings: INDEX_SETTINGS,
        mappings: INDEX_MAPPINGS,
      });
    } catch (err) {
      // Another node created it first.
      if (errorType(err) !== "resource_already_exists_exception") throw err;
    }
  }

  upsert(docs: readonly SearchDocument[]): Promise<WriteOutcome> {
    return this.bulk(upsertOperations(this.index, docs));
  }

  remove(removals: readonly ProductRemoval[]): Promise<WriteOutcome> {
    return this.bulk(removeOperations(this.index, removals));
  }

  applyStock(levels: readonly StockLevel[]): Promise<WriteOutcome> {
    return this.bulk(stockOperations(this.index, levels));
  }

  async query(query: SearchQuery): Promise<SearchResult> {
    const first = parseSearchResponse(
      await this.client.search(searchRequest(this.index, query)),
      query,
    );
    // No product has every word: products with any of them, best first.
    if (first.total > 0 || queryTerms(query).length < 2) return first;
    return parseSearchResponse(
      await this.client.search(searchRequest(this.index, query, "or")),
      query,
    );
  }

  async suggest(prefix: string, limit: number): Promise<Suggestion[]> {
    if (!queryTerms({ q: prefix }).length || limit < 1) return [];
    const response = await this.client.search(suggestRequest(this.index, prefix, limit));
    return parseSuggestResponse(response as never, limit);
  }

  async clear(): Promise<void> {
    await this.client.deleteByQuery({
      index: this.index,
      query: { match_all: {} },
      conflicts: "proceed",
      refresh: true,
    });
  }

  async count(): Promise<number> {
    const { count } = await this.client.count({ index: this.index, query: ACTIVE });
    return count;
  }

  async ping(): Promise<boolean> {
    try {
      return await this.client.ping();
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async bulk(operations: Record<string, unknown>[]): Promise<WriteOutcome> {
    if (!operations.length) return { applied: 0, ignored: 0 };
    const response = await this.client.bulk({ operations, refresh: this.refresh });
    const outcome = { applied: 0, ignored: 0 };
    const failures: string[] = [];
    for (const item of response.items) {
      const result = Object.values(item)[0]!;
      if (result.error)
        failures.push(`${result._id}: ${result.error.type}: ${result.error.reason}`);
      else if (result.result === "noop") outcome.ignored++;
      else outcome.applied++;
    }
    // Whatever was applied stays; a retry of the whole batch is harmless (versions).
    if (failures.length)
      throw new Error(`Elasticsearch rejected ${failures.length} write(s): ${failures[0]}`);
    return outcome;
  }
}

function errorType(err: unknown): string | undefined {
  if (!(err instanceof errors.ResponseError)) return undefined;
  const body = err.meta.body as { error?: { type?: string } } | undefined;
  return body?.error?.type;
}
