/**
 * The boundary between the transport (src/server: HTTP, WebSocket, native protocol) and the engine
 * (validation, queue, executor, history). The server only talks to a `PromptService`; a future
 * distributed queue replaces the implementation, not the server.
 */

/** ComfyUI API-format prompt: node id → {class_type, inputs, _meta}. Links are `[nodeId, outputIndex]`. */
export type ApiPrompt = Record<
  string,
  { class_type: string; inputs: Record<string, unknown>; _meta?: { title?: string } }
>;

export interface QueuePromptRequest {
  prompt: ApiPrompt;
  client_id?: string;
  extra_data?: Record<string, unknown>;
  front?: boolean;
  number?: number;
  prompt_id?: string;
  partial_execution_targets?: string[];
}

/** ComfyUI validation error object (`Err`). */
export interface ComfyError {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}

export interface NodeErrors {
  [nodeId: string]: { errors: ComfyError[]; dependent_outputs: string[]; class_type: string };
}

export type QueuePromptResult =
  | { ok: true; prompt_id: string; number: number; node_errors: NodeErrors }
  | { ok: false; error: ComfyError; node_errors: NodeErrors };

/** ComfyUI queue item tuple: [number, prompt_id, prompt, extra_data, outputs_to_execute]. */
export type QueueItem = [number, string, ApiPrompt, Record<string, unknown>, string[]];

export interface HistoryEntry {
  prompt: QueueItem;
  outputs: Record<string, Record<string, unknown>>;
  status: {
    status_str: 'success' | 'error';
    completed: boolean;
    messages: Array<[string, Record<string, unknown>]>;
  };
  meta: Record<
    string,
    { node_id: string; display_node: string; parent_node: string | null; real_node_id: string }
  >;
}

/**
 * Events in ComfyUI's shapes. `clientId` null = broadcast (e.g. `status`); otherwise only the
 * submitting client receives it.
 */
export type EngineEvent =
  | { kind: 'json'; clientId: string | null; type: string; data: Record<string, unknown> }
  /** Binary frame: ComfyUI event type (1 = preview image) + payload (already prefixed with the format code for type 1). */
  | {
      kind: 'binary';
      clientId: string | null;
      eventType: number;
      payload: Uint8Array;
      /**
       * Optional (additive): where a type-1 preview comes from (`prompt_id`, `node_id`, `display_node_id`,
       * `parent_node_id`, `real_node_id`). When present the server sends ComfyUI's event 4
       * (PREVIEW_IMAGE_WITH_METADATA) to clients that negotiated `supports_preview_metadata`.
       */
      previewMeta?: Record<string, unknown>;
    };

export interface PromptService {
  /** Validates and enqueues. Never throws for user errors: returns ComfyUI's 400 body shape instead. */
  queuePrompt(request: QueuePromptRequest): Promise<QueuePromptResult>;
  getQueue(): { queue_running: QueueItem[]; queue_pending: QueueItem[] };
  /** Number of pending + running prompts. */
  queueRemaining(): number;
  deleteFromQueue(promptIds: string[]): void;
  clearQueue(): void;
  /** Interrupts the running prompt (or only that prompt when an id is given and it is the running one). */
  interrupt(promptId?: string): void;
  getHistory(options?: { maxItems?: number; offset?: number }): Record<string, HistoryEntry>;
  getHistoryItem(promptId: string): Record<string, HistoryEntry>;
  deleteHistory(promptIds: string[]): void;
  clearHistory(): void;
  /** ComfyUI POST /free: unload models and/or free cached outputs. */
  free(options: { unload_models?: boolean; free_memory?: boolean }): Promise<void>;
  /** `/object_info` body (all classes). */
  objectInfo(): Promise<Record<string, unknown>>;
  /** Subscribe to engine events; returns an unsubscribe function. */
  onEvent(listener: (event: EngineEvent) => void): () => void;
  /**
   * The running prompt and its current node, if any (optional; ComfyUI replays
   * `executing {node}` to a reconnecting socket of the prompt's client).
   */
  currentExecution?(): { prompt_id: string; node: string | null; client_id: string | null } | null;
  /** Stops workers and the queue loop. */
  close(): Promise<void>;
}
