/**
 * Merge refinement (paper §3.3) from the main thread: checks the sources carry training data, then runs
 * the `cones.refine` worker task (A2 on the summed loss, ξ free only inside the union).
 */
import type { SdModel } from '../sd/pipeline/values.js';
import type { TaskClient } from '../shared/tasks.js';
import { type Concept, ConceptError, conceptLabel } from './concept.js';
import {
  CONES_TASKS,
  type ConesTasks,
  DEFAULT_REFINE_SETTINGS,
  type RefineResult,
  type RefineSettings,
} from './extract/protocol.js';

/** Why these concepts cannot be refined (null when they can). */
export function refineProblem(sources: readonly Concept[]): string | null {
  const missing = sources.filter((c) => !c.training);
  if (missing.length === 0) return null;
  return `merge refinement needs each concept's training data, but ${missing.map((c) => `'${conceptLabel(c)}'`).join(', ')} ${missing.length === 1 ? 'has' : 'have'} none; extract ${missing.length === 1 ? 'it' : 'them'} again with keep_training_data on, or set refine_steps to 0`;
}

export async function refineMergedConcept(
  ctx: { runtime: TaskClient<ConesTasks>; signal: AbortSignal; progress(value: number, max: number): void },
  model: SdModel,
  merged: Concept,
  sources: readonly Concept[],
  settings: Partial<RefineSettings> & { steps: number },
): Promise<RefineResult> {
  const problem = refineProblem(sources);
  if (problem) throw new ConceptError(problem);
  return ctx.runtime.call(
    CONES_TASKS.refine,
    {
      checkpoint: model.checkpoint,
      merged,
      sources,
      settings: { ...DEFAULT_REFINE_SETTINGS, ...settings },
    },
    { signal: ctx.signal, onProgress: (p) => ctx.progress(p.value, p.max) },
  );
}
