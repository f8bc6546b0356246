import { keyedRecord } from './keyed-record.js';

export interface NodeProgress {
  value: number;
  max: number;
  state: 'running' | 'finished' | 'error';
}

/**
 * One prompt's per-node progress, as ComfyUI's `progress_state` message reports it: every node that
 * has started, with its value, max and state. ComfyUI resends the whole map on each change, which
 * grows with the square of the node count; past `fullListLimit` started nodes the message lists
 * only the nodes still running or failed (finished ones are what the front end no longer draws), so a
 * chain of tens of thousands of nodes runs in linear time.
 */
export class ProgressBoard {
  private readonly nodes = new Map<string, NodeProgress>();
  /** Message entries per node, rebuilt only when that node changes. */
  private readonly entries = new Map<string, Record<string, unknown>>();
  private readonly unfinished = new Set<string>();

  constructor(
    private readonly promptId: string,
    private readonly fullListLimit = 200,
  ) {}

  get(id: string): NodeProgress | undefined {
    return this.nodes.get(id);
  }

  set(id: string, progress: NodeProgress): void {
    this.nodes.set(id, progress);
    this.entries.set(id, {
      value: progress.value,
      max: progress.max,
      state: progress.state,
      node_id: id,
      prompt_id: this.promptId,
      display_node_id: id,
      parent_node_id: null,
      real_node_id: id,
    });
    if (progress.state === 'finished') this.unfinished.delete(id);
    else this.unfinished.add(id);
  }

  /** The `progress_state` message data. */
  message(): { prompt_id: string; nodes: Record<string, unknown> } {
    const ids = this.nodes.size <= this.fullListLimit ? this.nodes.keys() : this.unfinished;
    const nodes = keyedRecord<unknown>();
    for (const id of ids) nodes[id] = this.entries.get(id);
    return { prompt_id: this.promptId, nodes };
  }
}
