import { conesTasks } from '../cones/tasks.js';
import { imageTasks } from '../image/tasks.js';
import { sdTasks } from '../sd/tasks.js';
import type { TaskHandlers } from '../shared/tasks.js';
import { debugTasks } from './debug-tasks.js';
import { runtimeTasks } from './model-unload.js';
import type { TaskMap } from './task-map.js';

/** Every task a runtime worker can run, by name: one handler per task of `TaskMap`. */
export const tasks: TaskHandlers<TaskMap> = {
  ...debugTasks,
  ...runtimeTasks,
  ...imageTasks,
  ...conesTasks,
  ...sdTasks,
};
