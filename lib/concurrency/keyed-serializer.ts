/**
 * Runs tasks that share a key one after another, in arrival order, within
 * this process; tasks with different keys run side by side. It does not
 * replace a cross-process guard (optimistic versions, row locks): it only
 * stops requests on the same node from racing each other into retries.
 */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      // Forget the key once nothing else queued behind this task.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Whether a task of `key` is running or waiting. */
  has(key: string): boolean {
    return this.tails.has(key);
  }

  /** Keys with a task running or waiting (for tests and status). */
  get size(): number {
    return this.tails.size;
  }
}
