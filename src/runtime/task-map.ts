/**
 * The one contract between the code that asks for runtime work (nodes, engine) and the workers that do
 * it: every task name with its payload, result and progress types, joined from the families' maps.
 * `RuntimeClient` is the caller's side; `src/runtime/tasks.ts` (`TaskHandlers<TaskMap>`) is the
 * worker's side, so a task without a handler, or a handler or call with the wrong types, does not compile.
 */
import type { ConesTasks } from '../cones/extract/protocol.js';
import type { ImageTasks } from '../image/tasks.js';
import type { SdTasks } from '../sd/pipeline/protocol.js';
import type { TaskClient } from '../shared/tasks.js';
import type { DebugTasks } from './debug-tasks.js';
import type { RuntimeTasks } from './model-unload.js';

export interface TaskMap extends SdTasks, ConesTasks, ImageTasks, RuntimeTasks, DebugTasks {}

export type TaskName = keyof TaskMap;

/** Calls into runtime workers (`WorkerRuntime`, src/runtime/worker-runtime.ts). */
export type RuntimeClient = TaskClient<TaskMap>;
