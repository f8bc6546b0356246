import type { Job } from './job.js';

/**
 * Pending jobs ordered like ComfyUI's heap: lowest `number` first (front-queued prompts get negative
 * numbers), ties in submission order.
 */
export class PromptQueue {
  private pending: Array<{ job: Job; seq: number }> = [];
  private seq = 0;
  /** ComfyUI's running counter for prompts without an explicit number. */
  private counter = 0;

  nextNumber(front: boolean): number {
    const n = this.counter++;
    return front ? -n : n;
  }

  /** Keeps the counter ahead of explicit numbers so later plain prompts still sort after them. */
  put(job: Job): void {
    const entry = { job, seq: this.seq++ };
    let i = this.pending.length;
    while (i > 0) {
      const prev = this.pending[i - 1];
      if (prev.job.number < job.number || (prev.job.number === job.number && prev.seq < entry.seq)) break;
      i--;
    }
    this.pending.splice(i, 0, entry);
  }

  take(): Job | undefined {
    return this.pending.shift()?.job;
  }

  has(promptId: string): boolean {
    return this.pending.some((e) => e.job.promptId === promptId);
  }

  delete(promptIds: string[]): number {
    const drop = new Set(promptIds);
    const before = this.pending.length;
    this.pending = this.pending.filter((e) => !drop.has(e.job.promptId));
    return before - this.pending.length;
  }

  clear(): number {
    const n = this.pending.length;
    this.pending = [];
    return n;
  }

  jobs(): Job[] {
    return this.pending.map((e) => e.job);
  }

  get size(): number {
    return this.pending.length;
  }
}
