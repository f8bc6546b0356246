/**
 * The SD task table for runtime workers (spread into src/runtime/tasks.ts). Handlers load the
 * pipeline on first use, so a worker that never touches SD never loads ONNX graphs or weights.
 */
import type { TaskHandler, TaskHandlers } from '../shared/tasks.js';
import type { SdTasks } from './pipeline/protocol.js';

type Handlers = typeof import('./pipeline/worker-tasks.js')['handlers'];

let pipeline: Promise<Handlers> | undefined;
function load(): Promise<Handlers> {
  pipeline ??= import('./pipeline/worker-tasks.js').then((m) => m.handlers);
  return pipeline;
}

function lazy<K extends keyof Handlers>(name: K): Handlers[K] {
  const handler: TaskHandler<any> = async (payload, ctx) => (await load())[name](payload, ctx);
  return handler as Handlers[K];
}

export const sdTasks: TaskHandlers<SdTasks> = {
  'sd.loadCheckpoint': lazy('loadCheckpoint'),
  'sd.encodeText': lazy('encodeText'),
  'sd.sample': lazy('sample'),
  'sd.vaeDecode': lazy('vaeDecode'),
  'sd.vaeEncode': lazy('vaeEncode'),
  'sd.free': lazy('free'),
  'sd.debugModels': lazy('stats'),
};
