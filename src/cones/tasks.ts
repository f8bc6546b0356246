/**
 * The Cones task table for runtime workers (spread into src/runtime/tasks.ts): `cones.extract`
 * (Algorithm A2) and `cones.refine` (merge refinement). The implementation loads on first use.
 */
import type { TaskHandlers } from '../shared/tasks.js';
import type { ConesTasks } from './extract/protocol.js';

type Worker = typeof import('./extract/worker.js');

let worker: Promise<Worker> | undefined;
const load = (): Promise<Worker> => {
  worker ??= import('./extract/worker.js');
  return worker;
};

export const conesTasks: TaskHandlers<ConesTasks> = {
  'cones.extract': async (payload, ctx) => ({ result: await (await load()).runExtraction(payload, ctx) }),
  'cones.refine': async (payload, ctx) => ({ result: await (await load()).runRefinement(payload, ctx) }),
};
