/**
 * Runtime worker entry (dist/runtime-worker.js): runs tasks from `tasks.ts` by name, one message per
 * call, several calls may be in flight. Progress and logs stream back; abort is a shared flag so tasks
 * see it even between synchronous steps.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { InterruptedError } from '../shared/interrupted.js';
import type { RuntimeSettings } from '../shared/runtime-settings.js';
import type { TaskContext, TaskHandler, TaskMetrics, TaskPreview } from '../shared/tasks.js';
import type { CallMessage, WorkerMessage } from './protocol.js';
import type { TaskMap, TaskName } from './task-map.js';
import { tasks } from './tasks.js';

if (!parentPort) throw new Error('worker-main.ts must run inside a worker thread');
const port = parentPort;
/** Resolved by the main thread (`WorkerRuntime`): the worker reads no environment of its own. */
const { settings } = workerData as { settings: RuntimeSettings };

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

async function runCall(msg: CallMessage): Promise<void> {
  const abort = new Int32Array(msg.abort);
  const ctx: TaskContext = {
    settings,
    get aborted() {
      return Atomics.load(abort, 0) === 1;
    },
    checkInterrupt() {
      if (Atomics.load(abort, 0) === 1) throw new InterruptedError();
    },
    progress(value: number, max: number, preview?: TaskPreview, metrics?: TaskMetrics) {
      const transfer = preview && preview.bytes.buffer instanceof ArrayBuffer ? [preview.bytes.buffer] : [];
      post({ type: 'progress', id: msg.id, value, max, preview, metrics }, transfer);
    },
    log(message: string) {
      post({ type: 'log', id: msg.id, message });
    },
  };
  try {
    if (!Object.hasOwn(tasks, msg.task)) throw new Error(`unknown runtime task '${msg.task}'`);
    // The payload was typed against `TaskMap` by the caller (`RuntimeClient.call`).
    const handler = tasks[msg.task as TaskName] as TaskHandler<TaskMap[TaskName]>;
    const output = await handler(msg.payload as never, ctx);
    post({ type: 'result', id: msg.id, result: output.result }, output.transfer ?? []);
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    post({
      type: 'error',
      id: msg.id,
      error: { name: e.name, message: e.message, stack: e.stack, interrupted: e instanceof InterruptedError },
    });
  }
}

port.on('message', (msg: CallMessage) => {
  if (msg?.type === 'call') void runCall(msg);
});
