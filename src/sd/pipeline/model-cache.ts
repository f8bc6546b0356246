/**
 * A least-recently-used cache of loaded models with a memory budget. Loading is deduplicated (two
 * prompts asking for the same checkpoint share one load), entries in use are pinned, and when a new
 * model does not fit the budget the least recently used unpinned entries are released first.
 */

export interface CachedResource {
  /** Bytes the resource holds now (weights plus sessions); read again after each use, since sessions grow lazily. */
  bytes(): number;
  release(): Promise<void> | void;
}

interface Entry<T extends CachedResource> {
  key: string;
  value?: T;
  loading?: Promise<T>;
  pins: number;
  lastUsed: number;
}

export class ModelCache<T extends CachedResource> {
  private readonly entries = new Map<string, Entry<T>>();
  private clock = 0;

  constructor(private readonly budgetBytes: number) {}

  /**
   * Runs `use` with the resource for `key`, loading it with `load` on a miss. The entry stays pinned
   * (never evicted) until `use` settles. `estimateBytes` lets the cache make room before loading.
   */
  async with<R>(
    key: string,
    load: () => Promise<T>,
    use: (value: T) => Promise<R>,
    estimateBytes = 0,
  ): Promise<R> {
    const entry = this.entries.get(key) ?? this.createEntry(key);
    entry.pins++;
    entry.lastUsed = ++this.clock;
    try {
      if (!entry.value) {
        if (!entry.loading) {
          // Set synchronously so concurrent callers join this load instead of starting their own.
          entry.loading = this.makeRoom(estimateBytes, key)
            .then(load)
            .then(
              (value) => {
                entry.value = value;
                entry.loading = undefined;
                return value;
              },
              (error: unknown) => {
                this.entries.delete(key);
                throw error;
              },
            );
        }
        await entry.loading;
      }
      const result = await use(entry.value!);
      return result;
    } finally {
      entry.pins--;
      entry.lastUsed = ++this.clock;
      await this.makeRoom(0, undefined);
    }
  }

  has(key: string): boolean {
    return this.entries.get(key)?.value !== undefined;
  }

  keys(): string[] {
    return [...this.entries.values()].filter((e) => e.value).map((e) => e.key);
  }

  /** The loaded entries, least recently used first, with how many users pin each now. */
  loaded(): { key: string; value: T; pins: number }[] {
    return [...this.entries.values()]
      .filter((e) => e.value)
      .sort((a, b) => a.lastUsed - b.lastUsed)
      .map((e) => ({ key: e.key, value: e.value!, pins: e.pins }));
  }

  /** Bytes held by all loaded entries. */
  usedBytes(): number {
    let total = 0;
    for (const entry of this.entries.values()) if (entry.value) total += entry.value.bytes();
    return total;
  }

  /** Releases every unpinned entry (ComfyUI `/free` with `unload_models`). Returns the released keys. */
  async releaseAll(): Promise<string[]> {
    const released: string[] = [];
    for (const entry of [...this.entries.values()]) {
      if (entry.pins > 0 || !entry.value) continue;
      await this.evict(entry);
      released.push(entry.key);
    }
    return released;
  }

  private createEntry(key: string): Entry<T> {
    const entry: Entry<T> = { key, pins: 0, lastUsed: ++this.clock };
    this.entries.set(key, entry);
    return entry;
  }

  /** Evicts least recently used unpinned entries until `extra` more bytes fit in the budget. */
  private async makeRoom(extra: number, keep: string | undefined): Promise<void> {
    while (this.usedBytes() + extra > this.budgetBytes) {
      let victim: Entry<T> | undefined;
      for (const entry of this.entries.values()) {
        if (entry.pins > 0 || !entry.value || entry.key === keep) continue;
        if (!victim || entry.lastUsed < victim.lastUsed) victim = entry;
      }
      if (!victim) return; // everything left is in use: go over budget rather than fail the prompt
      await this.evict(victim);
    }
  }

  private async evict(entry: Entry<T>): Promise<void> {
    const value = entry.value;
    this.entries.delete(entry.key);
    entry.value = undefined;
    await value?.release();
  }
}
