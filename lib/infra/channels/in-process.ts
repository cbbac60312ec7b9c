import { Adapters } from "@moleculer/channels";
import { Errors } from "moleculer";
import { DeadLetterHeaders, failureHeaders } from "./dead-letter-headers";

/**
 * In-process channels adapter: the embedded stand-in for Redis Streams / NATS
 * JetStream / Kafka when CHANNELS_URL is unset. It keeps the contract the
 * durable adapters keep, within one broker:
 *  - one consumer per group gets each message (round-robin between members);
 *  - a failing handler is retried with exponential backoff, up to
 *    `maxRetries` attempts in all (as Redis and NATS count them), then the
 *    message goes to the channel's dead-letter queue with the original headers
 *    plus DeadLetterHeaders;
 *  - `maxInFlight` bounds concurrent handlers per subscription;
 *  - `publish()` resolves only after every group has handled (or
 *    dead-lettered) the message, so an outbox can mark a row published only
 *    once it was delivered; it rejects when a group known to this adapter has
 *    no live member (the service is stopping), so the outbox tries again.
 *
 * Nothing is stored: messages exist only while publish() is pending. It does
 * not cross process boundaries; a split deployment (several nodes) needs
 * CHANNELS_URL. A handler must not await a direct publish to its own channel
 * (with maxInFlight reached that waits forever); the outbox publishes after
 * commit, outside the handler, so it is safe.
 */

type BaseAdapterInstance = InstanceType<typeof Adapters.Base>;
type LibraryChannel = Parameters<BaseAdapterInstance["subscribe"]>[0];

/** The second argument our handlers get (the Redis adapter passes the same shape). */
export interface InProcessRawMessage {
  payload: unknown;
  headers: Record<string, string>;
  id: string;
  /** 1 for the first delivery. */
  attempt: number;
}

interface InProcessChannel {
  id: string;
  name: string;
  group: string;
  maxInFlight: number | null;
  maxRetries: number;
  deadLettering: { enabled: boolean; queueName: string } | null;
  unsubscribing: boolean;
  handler: (payload: unknown, raw: InProcessRawMessage) => Promise<unknown>;
}

interface Member {
  chan: InProcessChannel;
  active: number;
  closed: boolean;
  /** Resolved when a closed member has no handler running. */
  drained?: () => void;
}

interface Group {
  members: Member[];
  next: number;
  /** Deliveries waiting for a free slot in this group. */
  waiters: (() => void)[];
}

interface Message {
  id: string;
  body: Buffer;
  headers: Record<string, string>;
}

export interface InProcessAdapterOptions {
  prefix?: string;
  maxRetries?: number;
  maxInFlight?: number;
  deadLettering?: { enabled: boolean; queueName?: string };
  /** Delay before the first retry; doubles for each further one (default 50 ms). */
  retryDelayMs?: number;
  /** Longest delay between retries (default 2000 ms). */
  maxRetryDelayMs?: number;
}

export class InProcessAdapter extends Adapters.Base {
  private readonly channels = new Map<string, Map<string, Group>>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private sequence = 0;
  private stopping = false;

  constructor(opts: InProcessAdapterOptions = {}) {
    const { retryDelayMs = 50, maxRetryDelayMs = 2000, ...base } = opts;
    super(base);
    this.retryDelayMs = retryDelayMs;
    this.maxRetryDelayMs = maxRetryDelayMs;
  }

  override async connect(): Promise<void> {
    this.stopping = false;
    this.connected = true;
  }

  /** Waits for every message being delivered (their handlers, retries and dead-lettering). */
  override async disconnect(): Promise<void> {
    this.stopping = true;
    while (this.pending.size) await Promise.allSettled([...this.pending]);
    this.connected = false;
  }

  override async subscribe(libraryChan: LibraryChannel): Promise<void> {
    const chan = libraryChan as unknown as InProcessChannel;
    // Same defaults as the library's adapters.
    if (chan.maxInFlight == null) chan.maxInFlight = this.opts.maxInFlight;
    if (chan.maxRetries == null) chan.maxRetries = this.opts.maxRetries;
    chan.deadLettering = { ...this.opts.deadLettering, ...chan.deadLettering };
    if (chan.deadLettering.enabled)
      chan.deadLettering.queueName = this.addPrefixTopic(chan.deadLettering.queueName);

    this.initChannelActiveMessages(chan.id);
    let groups = this.channels.get(chan.name);
    if (!groups) this.channels.set(chan.name, (groups = new Map()));
    let group = groups.get(chan.group);
    if (!group) groups.set(chan.group, (group = { members: [], next: 0, waiters: [] }));
    group.members.push({ chan, active: 0, closed: false });
    this.logger.debug(`Subscribed '${chan.id}' to '${chan.name}' (group '${chan.group}')`);
  }

  /**
   * Stops giving the subscription messages and waits for its running handlers.
   * The group stays known: until a member joins again, publishing to the
   * channel rejects instead of silently skipping the group.
   */
  override async unsubscribe(libraryChan: LibraryChannel): Promise<void> {
    const chan = libraryChan as unknown as InProcessChannel;
    if (chan.unsubscribing) return;
    chan.unsubscribing = true;
    const group = this.channels.get(chan.name)?.get(chan.group);
    const member = group?.members.find((m) => m.chan === chan);
    if (!group || !member) return;
    member.closed = true;
    group.members = group.members.filter((m) => m !== member);
    // Deliveries waiting for a slot pick another member (or fail if none is left).
    for (const wake of group.waiters.splice(0)) wake();
    if (member.active > 0) await new Promise<void>((resolve) => (member.drained = resolve));
    this.stopChannelActiveMessages(chan.id);
  }

  override async publish(
    channelName: string,
    payload: unknown,
    opts: { raw?: boolean; headers?: Record<string, string> } | null = {},
  ): Promise<void> {
    if (!this.connected || this.stopping)
      throw new Errors.MoleculerRetryableError("In-process channels are not connected");
    const body = opts?.raw ? toBuffer(payload) : this.serializer.serialize(payload);
    await this.dispatch(channelName, {
      id: String(++this.sequence),
      body,
      headers: { ...(opts?.headers ?? {}) },
    });
  }

  private async dispatch(channelName: string, message: Message): Promise<void> {
    const groups = [...(this.channels.get(channelName)?.entries() ?? [])];
    if (!groups.length) {
      this.logger.debug(`No consumer group on '${channelName}'; message ${message.id} dropped`);
      return;
    }
    const delivery = Promise.allSettled(
      groups.map(([name, group]) => this.deliver(channelName, name, group, message)),
    );
    this.pending.add(delivery);
    try {
      const failed = (await delivery).find((r) => r.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
    } finally {
      this.pending.delete(delivery);
    }
  }

  /** Delivers to one member of the group, retrying on failure, then dead-letters. */
  private async deliver(
    channelName: string,
    groupName: string,
    group: Group,
    message: Message,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const member = await this.acquire(channelName, groupName, group);
      const chan = member.chan;
      let failure: unknown;
      this.addChannelActiveMessages(chan.id, [message.id]);
      try {
        const payload = this.serializer.deserialize(message.body);
        await chan.handler(payload, {
          payload,
          headers: { ...message.headers },
          id: message.id,
          attempt,
        });
        return;
      } catch (err) {
        failure = err ?? new Error("handler rejected without a reason");
        this.metricsIncrement("moleculer.channels.messages.errors.total", libraryChannel(chan));
      } finally {
        this.removeChannelActiveMessages(chan.id, [message.id]);
        this.release(group, member);
      }

      if (attempt >= Math.max(1, chan.maxRetries)) {
        await this.deadLetter(chan, message, failure, attempt);
        return;
      }
      this.metricsIncrement("moleculer.channels.messages.retries.total", libraryChannel(chan));
      this.logger.debug(
        `Message ${message.id} failed in '${chan.id}' (attempt ${attempt}); retrying`,
        (failure as Error)?.message,
      );
      await sleep(Math.min(this.retryDelayMs * 2 ** (attempt - 1), this.maxRetryDelayMs));
    }
  }

  /** A live member with a free slot, round-robin; waits while all are busy. */
  private async acquire(channelName: string, groupName: string, group: Group): Promise<Member> {
    for (;;) {
      const members = group.members;
      if (!members.length)
        throw new Errors.MoleculerRetryableError(
          `No live consumer in group '${groupName}' of '${channelName}'`,
        );
      for (let i = 0; i < members.length; i++) {
        const index = (group.next + i) % members.length;
        const member = members[index];
        if (member.active < (member.chan.maxInFlight ?? 1)) {
          group.next = index + 1;
          member.active++;
          return member;
        }
      }
      await new Promise<void>((resolve) => group.waiters.push(resolve));
    }
  }

  private release(group: Group, member: Member): void {
    member.active--;
    if (member.closed && member.active === 0) member.drained?.();
    group.waiters.shift()?.();
  }

  private async deadLetter(
    chan: InProcessChannel,
    message: Message,
    error: unknown,
    attempts: number,
  ): Promise<void> {
    if (!chan.deadLettering?.enabled) {
      this.logger.error(
        `Message ${message.id} of '${chan.name}' dropped after ${attempts} attempts (no dead-letter queue)`,
      );
      return;
    }
    const queueName = chan.deadLettering.queueName;
    const headers = {
      ...message.headers,
      [DeadLetterHeaders.originalId]: message.id,
      [DeadLetterHeaders.originalChannel]: chan.name,
      [DeadLetterHeaders.originalGroup]: chan.group,
      ...failureHeaders({ error, attempts }),
    };
    if (!this.channels.get(queueName)?.size)
      this.logger.error(`Dead letter of '${chan.name}' dropped: nothing consumes '${queueName}'`);
    // Not publish(): dead-lettering must finish even while the adapter stops.
    await this.dispatch(queueName, { id: String(++this.sequence), body: message.body, headers });
    this.metricsIncrement("moleculer.channels.messages.deadLettering.total", libraryChannel(chan));
    this.logger.warn(`Moved message ${message.id} of '${chan.name}' to '${queueName}'`);
  }
}

function libraryChannel(chan: InProcessChannel): LibraryChannel {
  return chan as unknown as LibraryChannel;
}

function toBuffer(payload: unknown): Buffer {
  if (Buffer.isBuffer(payload)) return payload;
  if (typeof payload === "string") return Buffer.from(payload);
  throw new TypeError("A raw payload must be a Buffer or a string");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
