/**
 * Runtime worker tasks. Heavy work (ONNX sessions, sampling, extraction, image codecs on big batches)
 * runs in worker threads because onnxruntime-node's `run()` blocks its thread. A task is a named async
 * function registered in `src/runtime/tasks.ts`; the worker keeps module-level state (loaded models,
 * sessions) between calls, so tasks that share a model must run on the same worker.
 */

export interface TaskPreview {
  format: 'JPEG' | 'PNG';
  bytes: Uint8Array;
}

export interface TaskContext {
  progress(value: number, max: number, preview?: TaskPreview): void;
  /** True once the caller aborted (interrupt). Long tasks check it between steps. */
  readonly aborted: boolean;
  /** Throws `InterruptedError` when aborted. */
  checkInterrupt(): void;
  log(message: string): void;
}

export interface TaskOutput<R = unknown> {
  result: R;
  /** ArrayBuffers inside `result` to transfer instead of copy. */
  transfer?: ArrayBuffer[];
}

export type TaskHandler<P = any, R = unknown> = (payload: P, ctx: TaskContext) => Promise<TaskOutput<R>>;

export type TaskTable = Record<string, TaskHandler>;
