import { runUnloadHooks } from '../shared/model-unload.js';
import type { TaskHandlers, TaskSpec } from '../shared/tasks.js';

export interface RuntimeTasks {
  /** What ComfyUI's `POST /free {"unload_models": true}` runs in every worker: the registered unload hooks. */
  'runtime.unloadModels': TaskSpec<Record<string, never>, { hooks: number }>;
}

export const runtimeTasks: TaskHandlers<RuntimeTasks> = {
  'runtime.unloadModels': async () => ({ result: { hooks: await runUnloadHooks() } }),
};
