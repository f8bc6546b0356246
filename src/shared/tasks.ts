/**
 * The runtime task contract. Heavy work (ONNX sessions, sampling, extraction, image codecs on big
 * batches) runs in runtime workers because onnxruntime-node's `run()` blocks its thread. A task is a
 * named async function; each family (sd, cones, image, …) describes its tasks as a map of name →
 * `TaskSpec` and registers one handler per name, and `src/runtime/task-map.ts` joins the families into
 * the one `TaskMap` that callers (`TaskClient`) and workers (`TaskHandlers`) both implement. A worker
 * keeps module-level state (loaded models, sessions) between calls, so tasks that share a model must
 * run on the same worker.
 */
import type { RuntimeSettings } from './runtime-settings.js';

export interface TaskPreview {
  format: 'JPEG' | 'PNG';
  bytes: Uint8Array;
}

/** Named numbers a step reports besides its position, e.g. a training step's `loss`. */
export type TaskMetrics = Record<string, number>;

/** What a task reports while it runs: step `value` of `max`, optionally with an encoded preview image. */
export interface TaskProgress {
  value: number;
  max: number;
  preview?: TaskPreview;
  metrics?: TaskMetrics;
}

/** One task's contract: what the caller sends, what it gets back and what its progress callback sees. */
export interface TaskSpec<Payload = unknown, Result = unknown, Progress = TaskProgress> {
  payload: Payload;
  result: Result;
  progress: Progress;
}

/** A map of task name → `TaskSpec` (a family's tasks, or all of them). */
export type TaskSpecs<M> = { [K in keyof M]: TaskSpec<unknown, unknown, unknown> };

export interface TaskContext {
  /** The worker's settings (the same on every call a worker runs). */
  readonly settings: RuntimeSettings;
  progress(value: number, max: number, preview?: TaskPreview, metrics?: TaskMetrics): void;
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

export type TaskHandler<S extends TaskSpec<unknown, unknown, unknown> = TaskSpec> = (
  payload: S['payload'],
  ctx: TaskContext,
) => Promise<TaskOutput<S['result']>>;

/** One handler per task of `M`: a missing task or a handler of the wrong type does not compile. */
export type TaskHandlers<M extends TaskSpecs<M>> = { [K in keyof M]: TaskHandler<M[K]> };

export interface TaskCallOptions<Progress = TaskProgress> {
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** ArrayBuffers inside the payload to transfer instead of copy. */
  transfer?: ArrayBuffer[];
}

/** Runs the tasks of `M` somewhere (runtime worker threads today): the caller's side of the contract. */
export interface TaskClient<M extends TaskSpecs<M>> {
  call<K extends keyof M & string>(
    task: K,
    payload: M[K]['payload'],
    options?: TaskCallOptions<M[K]['progress']>,
  ): Promise<M[K]['result']>;
}
