import type {
  ChannelSchema,
  Context,
  Service,
  ServiceSchema,
  ServiceSettingSchema,
} from "moleculer";
import { AppError } from "../../lib/errors";
import { infrastructureOf } from "../../lib/infra";
import { originalHeaders, ReplayHeaders } from "../../lib/infra/channels/dead-letter-headers";
import { ALL_TOPICS, dlqTopic } from "../../lib/messaging/topics";
import { businessMetrics } from "../../lib/observability/metrics";
import { PeriodicSampler } from "../../lib/observability/sampler";
import { DatabaseMixin, DatabaseThis } from "../../mixins/database.mixin";
import { serviceMigrations } from "../migrations";
import { DeadLetter, DeadLetterStore, DeadLetterSummary } from "./dead-letter-store";

/**
 * Dead letters (ARCHITECTURE §4, §9): consumes `<topic>.dlq` of every topic,
 * keeps each message in its own database, and lets operators list, inspect
 * and replay them from the REPL (`call deadletters.list --topic orders.events`).
 * No REST route: the actions are `public` (callable in the cluster, not
 * published to the gateway).
 */

interface Locals extends DatabaseThis {
  store: DeadLetterStore;
  sizes?: PeriodicSampler;
}

type ReplayParams = { id?: number; topic?: string };

/** Most dead letters one `replay --topic` call re-sends. */
const REPLAY_BATCH = 500;

function stringHeaders(raw: Record<string, unknown> | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw ?? {})) {
    if (value != null) out[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return out;
}

function dlqConsumer(topic: string): ChannelSchema<Service & Locals> {
  return {
    group: "deadletters",
    context: true,
    async handler(ctxArg, raw) {
      const ctx = ctxArg as Context<unknown>;
      const headers = stringHeaders(ctx.broker.channelAdapter.parseMessageHeaders(raw));
      const { id, created } = await this.store.record({ topic, payload: ctx.params, headers });
      this.logger.warn(
        `Dead letter #${id} from ${topic}${created ? "" : " (again)"}: ${headers["x-error-message"] ?? "no error recorded"}`,
      );
    },
  };
}

const DeadLettersService: ServiceSchema<ServiceSettingSchema, Record<string, never>, Locals> = {
  name: "deadletters",
  mixins: [DatabaseMixin({ migrations: serviceMigrations.deadletters })],

  channels: Object.fromEntries(ALL_TOPICS.map((topic) => [dlqTopic(topic), dlqConsumer(topic)])),

  actions: {
    list: {
      visibility: "public",
      params: {
        topic: { type: "string", optional: true },
        page: { type: "number", integer: true, min: 1, default: 1, convert: true },
        pageSize: { type: "number", integer: true, min: 1, max: 100, default: 20, convert: true },
      },
      handler(ctx: Context<{ topic?: string; page: number; pageSize: number }>) {
        return this.store.list(ctx.params);
      },
    },

    get: {
      visibility: "public",
      params: { id: { type: "number", integer: true, positive: true, convert: true } },
      async handler(ctx: Context<{ id: number }>): Promise<DeadLetter> {
        const letter = await this.store.get(ctx.params.id);
        if (!letter) throw AppError.notFound("Dead letter");
        return letter;
      },
    },

    /**
     * Re-sends dead letters to their original topic with their original
     * headers (so correlation and ctx.meta travel again) plus x-replay-of and
     * x-replay-count. Every group of the topic gets it again, not only the one
     * that failed: consumers are idempotent.
     */
    replay: {
      visibility: "public",
      params: {
        id: { type: "number", integer: true, positive: true, convert: true, optional: true },
        topic: { type: "string", optional: true },
      },
      async handler(ctx: Context<ReplayParams>): Promise<{ replayed: DeadLetterSummary[] }> {
        const { id, topic } = ctx.params;
        if ((id == null) === (topic == null))
          throw AppError.validation("Give either id or topic", [{ message: "id xor topic" }]);
        const ids = id != null ? [id] : await this.store.deadIds(topic!, REPLAY_BATCH);
        const replayed: DeadLetterSummary[] = [];
        for (const letterId of ids) {
          const letter = await this.store.get(letterId);
          if (!letter) throw AppError.notFound("Dead letter");
          await this.store.markReplayed(letter.id);
          try {
            await this.broker.sendToChannel(letter.topic, letter.payload, {
              key: letter.aggregateId ?? undefined,
              headers: {
                ...originalHeaders(letter.headers),
                [ReplayHeaders.replayOf]: String(letter.id),
                [ReplayHeaders.replayCount]: String(letter.replayCount + 1),
              },
            });
          } catch (err) {
            await this.store.unmarkReplayed(letter);
            throw err;
          }
          this.logger.info(`Replayed dead letter #${letter.id} to ${letter.topic}`);
          // Read back: with in-process channels a replay that failed again is already "dead".
          replayed.push((await this.store.summary(letter.id))!);
        }
        return { replayed };
      },
    },
  },

  started() {
    const store = new DeadLetterStore(this.db);
    this.store = store;
    // The DLQ sizes gauge (metrics on), every topic reported, 0 included.
    const metrics = businessMetrics(this.broker);
    if (!metrics.enabled) return;
    this.sizes = new PeriodicSampler(
      "dead letter counts",
      async () => {
        const counts = await store.deadCountsByTopic();
        for (const topic of new Set([...ALL_TOPICS, ...counts.keys()]))
          metrics.deadLetters(topic, counts.get(topic) ?? 0);
      },
      infrastructureOf(this.broker).config.metricsSampleIntervalMs,
      this.logger,
    );
    this.sizes.start();
  },

  async stopped() {
    // A read in progress finishes before the node closes the database.
    await this.sizes?.stop();
  },
};

export default DeadLettersService;
