import type { Config } from "../../lib/config";
import type { SearchIndex } from "./index-port";
import { MiniSearchIndex } from "./minisearch-index";

/**
 * The search index adapter the configuration names: Elasticsearch when
 * ELASTICSEARCH_URL is set, else the in-process MiniSearch index.
 */
export function createSearchIndex(config: Config): SearchIndex {
  if (!config.elasticsearchUrl) return new MiniSearchIndex();
  // Loaded only when configured, so the embedded node never loads the client.
  type Module = typeof import("./elasticsearch-index");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ElasticsearchIndex } = require("./elasticsearch-index") as Module;
  return ElasticsearchIndex.fromSettings({
    url: config.elasticsearchUrl,
    index: config.elasticsearchIndex,
    apiKey: config.elasticsearchApiKey,
    caFile: config.elasticsearchCaFile,
    tlsRejectUnauthorized: config.elasticsearchTlsRejectUnauthorized,
  });
}

/** True when each search node holds its own index (so each must see every event). */
export function indexIsPerNode(config: Config): boolean {
  return !config.elasticsearchUrl;
}
