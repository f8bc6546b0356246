import type { CarriedConcept } from '../cones/embed.js';
import type { ApiPrompt, HistoryEntry, QueueItem } from './service-types.js';

/**
 * One unit of work crossing the queue → executor boundary. Plain data only (no callbacks, no class
 * instances), so a distributed queue can carry it as a message and return an `ExecutionOutcome`.
 */
export interface Job {
  number: number;
  promptId: string;
  /** Validated, coerced API prompt. */
  prompt: ApiPrompt;
  /** extra_data as the client sent it (client_id, extra_pnginfo, …) less the sensitive keys (auth_token_comfy_org, api_key_comfy_org). */
  extraData: Record<string, unknown>;
  /** Output node ids to execute. */
  outputs: string[];
  /**
   * Nodes left out of the run: they failed validation but feed only inputs their consumers can do
   * without (`NodeDefinition.dispensableInputs`); links from them deliver undefined.
   */
  skipped?: string[];
  clientId: string | null;
}

export interface ExecutionOutcome {
  status: HistoryEntry['status'];
  outputs: HistoryEntry['outputs'];
  meta: HistoryEntry['meta'];
  /** Every concept the run loaded or made (cached nodes included), to carry in history. */
  carried: CarriedConcept[];
}

export function queueItemOf(job: Job): QueueItem {
  return [job.number, job.promptId, job.prompt, job.extraData, job.outputs];
}
