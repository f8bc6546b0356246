/**
 * The SD task table for runtime workers (spread into src/runtime/tasks.ts). Handlers load the
 * pipeline on first use, so a worker that never touches SD never loads ONNX graphs or weights.
 */
import type { TaskHandler, TaskTable } from '../shared/tasks.js';
import { SD_TASKS } from './pipeline/protocol.js';

type WorkerTasks = typeof import('./pipeline/worker-tasks.js');

let pipeline: Promise<WorkerTasks> | undefined;
function load(): Promise<WorkerTasks> {
  pipeline ??= import('./pipeline/worker-tasks.js');
  return pipeline;
}

function lazy(name: keyof WorkerTasks['handlers']): TaskHandler {
  return async (payload, ctx) => (await load()).handlers[name](payload, ctx);
}

/** Task name of the model cache introspection (not a ComfyUI operation). */
export const SD_DEBUG_MODELS_TASK = 'sd.debugModels';

export const sdTasks: TaskTable = {
  [SD_TASKS.loadCheckpoint]: lazy('loadCheckpoint'),
  [SD_TASKS.encodeText]: lazy('encodeText'),
  [SD_TASKS.sample]: lazy('sample'),
  [SD_TASKS.vaeDecode]: lazy('vaeDecode'),
  [SD_TASKS.vaeEncode]: lazy('vaeEncode'),
  [SD_TASKS.free]: lazy('free'),
  /** Introspection: the worker's loaded models, their open graphs and bytes (`ModelCacheStats`). */
  [SD_DEBUG_MODELS_TASK]: lazy('stats'),
};
