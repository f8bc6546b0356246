import { runUnloadHooks } from '../shared/model-unload.js';
import type { TaskTable } from '../shared/tasks.js';

/** `runtime.unloadModels`: what ComfyUI's `POST /free {"unload_models": true}` runs in every worker. */
export const runtimeTasks: TaskTable = {
  'runtime.unloadModels': async () => ({ result: { hooks: await runUnloadHooks() } }),
};
