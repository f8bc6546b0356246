import { conesTasks } from '../cones/tasks.js';
import { imageTasks } from '../image/tasks.js';
import { sdTasks } from '../sd/tasks.js';
import type { TaskTable } from '../shared/tasks.js';
import { debugTasks } from './debug-tasks.js';
import { runtimeTasks } from './model-unload.js';

/**
 * Every task a runtime worker can run, by name. Each family adds its own table here
 * (e.g. `...sdTasks` from src/sd/tasks.ts).
 */
export const tasks: TaskTable = {
  ...debugTasks,
  ...runtimeTasks,
  ...imageTasks,
  ...conesTasks,
  ...sdTasks,
};
