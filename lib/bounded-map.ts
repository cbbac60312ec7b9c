/**
 * A Map that keeps at most `capacity` entries and forgets the oldest first
 * (setting a key again makes it the newest): the bounded memos of what a
 * node wrote or saw lately.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly capacity: number) {
    super();
    if (!(capacity >= 1)) throw new Error(`BoundedMap capacity must be at least 1 (${capacity})`);
  }

  override set(key: K, value: V): this {
    super.delete(key);
    super.set(key, value);
    if (this.size > this.capacity) super.delete(this.keys().next().value!);
    return this;
  }

  /** The key's value, removed: for what is used once. */
  take(key: K): V | undefined {
    const value = this.get(key);
    this.delete(key);
    return value;
  }
}
