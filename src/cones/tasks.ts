/**
 * The Cones task table for runtime workers (spread into src/runtime/tasks.ts): `cones.extract`
 * (Algorithm A2) and `cones.refine` (merge refinement). The implementation loads on first use.
 */
import type { TaskHandler, TaskTable } from '../shared/tasks.js';
import { CONES_TASKS } from './extract/protocol.js';

type Worker = typeof import('./extract/worker.js');

let worker: Promise<Worker> | undefined;
const load = (): Promise<Worker> => {
  worker ??= import('./extract/worker.js');
  return worker;
};

const extract: TaskHandler = async (payload, ctx) => {
  const result = await (await load()).runExtraction(payload, ctx);
  return { result };
};

const refine: TaskHandler = async (payload, ctx) => {
  const result = await (await load()).runRefinement(payload, ctx);
  return { result };
};

export const conesTasks: TaskTable = {
  [CONES_TASKS.extract]: extract,
  [CONES_TASKS.refine]: refine,
};
