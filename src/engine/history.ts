import type { HistoryEntry } from './service-types.js';

/** Finished prompts in completion order, at most `maxItems` (ComfyUI keeps 10 000). */
export class PromptHistory {
  private readonly items = new Map<string, HistoryEntry>();

  constructor(private readonly maxItems = 10_000) {}

  add(promptId: string, entry: HistoryEntry): void {
    this.items.delete(promptId);
    this.items.set(promptId, entry);
    while (this.items.size > this.maxItems) this.items.delete(this.items.keys().next().value as string);
  }

  get(promptId: string): HistoryEntry | undefined {
    return this.items.get(promptId);
  }

  /** ComfyUI `get_history`: with only `maxItems`, the newest N (still oldest first); `offset` = start index. */
  list(options: { maxItems?: number; offset?: number } = {}): Record<string, HistoryEntry> {
    const { maxItems } = options;
    let offset = options.offset ?? -1;
    if (offset < 0 && maxItems !== undefined) offset = this.items.size - maxItems;
    const out: Record<string, HistoryEntry> = {};
    let i = 0;
    let count = 0;
    for (const [id, entry] of this.items) {
      if (i >= offset) {
        if (maxItems !== undefined && count >= maxItems) break;
        out[id] = entry;
        count++;
      }
      i++;
    }
    return out;
  }

  delete(promptIds: string[]): void {
    for (const id of promptIds) this.items.delete(id);
  }

  clear(): void {
    this.items.clear();
  }

  get size(): number {
    return this.items.size;
  }
}
