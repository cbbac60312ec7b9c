/**
 * Deletes the channels a throwaway cluster left on its server under
 * `prefix` (CHANNELS_PREFIX): Redis Streams keys `<prefix>.*` (streams and
 * their consumer groups) or JetStream streams `<prefix>_*`. For tests and
 * bench runs, each with a prefix of its own; never for a shop's own prefix.
 * Other schemes (Kafka) are left alone: false.
 */
export async function deleteChannels(url: string, prefix: string): Promise<boolean> {
  const scheme = url.slice(0, url.indexOf(":"));
  if (scheme === "redis" || scheme === "rediss") {
    const { default: Redis } = await import("ioredis");
    const client = new Redis(url);
    try {
      let cursor = "0";
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}.*`, "COUNT", 500);
        cursor = next;
        if (keys.length) await client.del(...keys);
      } while (cursor !== "0");
    } finally {
      client.disconnect();
    }
    return true;
  }
  if (scheme === "nats" || scheme === "tls") {
    const { connect } = await import("nats");
    const nc = await connect({ servers: new URL(url).host });
    try {
      const jsm = await nc.jetstreamManager();
      for await (const stream of jsm.streams.list()) {
        if (stream.config.name.startsWith(`${prefix}_`))
          await jsm.streams.delete(stream.config.name);
      }
    } finally {
      await nc.close();
    }
    return true;
  }
  return false;
}
