/**
 * The trained model as a single-file LDM-layout checkpoint (what CheckpointLoaderSimple loads): the
 * UNet from its EMA when there is one, the VAE and CLIP as trained (or as initialised), and in
 * `__metadata__` the recipe, this run's steps, final losses and wall time, the latent scale, and the
 * lineage (lineage.ts): every run behind the weights and the totals.
 */
import { f32ToF16Array } from '../sd/checkpoint/dtype.js';
import { type TensorSpec, writeSafetensors } from '../sd/checkpoint/safetensors-writer.js';
import { checkpointMetadataFor } from '../sd/tiny-model.js';
import { historyMetadata, type RunRecord, runRecord } from './lineage.js';
import { entriesUpTo, type LogEntry, summarizeLog } from './loss-log.js';
import type { TrainState } from './state.js';

export interface ExportInfo {
  /** Completed steps per stage (this run). */
  steps: Record<string, number>;
  /** Latest loss per stage (a mean over the last logged steps; this run). */
  finalLosses: Record<string, number>;
  /** Latent normalisation folded into the VAE (see normaliseLatents), when it was. */
  latentScale?: number;
  /** Every run behind the weights, this one last. */
  history: RunRecord[];
}

/** The export metadata of a state and its loss log (entries past the state's position are ignored). */
export function exportInfo(state: TrainState, log: readonly LogEntry[]): ExportInfo {
  const entries = entriesUpTo(log, state.stage, state.step);
  const steps: Record<string, number> = {};
  const finalLosses: Record<string, number> = {};
  for (const [stage, s] of Object.entries(summarizeLog(entries))) {
    steps[stage] = s.steps;
    finalLosses[stage] = s.finalLoss;
  }
  const run = runRecord(state.recipe, state.wallSeconds, entries, state.lineage?.initFrom);
  return {
    steps,
    finalLosses,
    ...(state.latentScale !== undefined ? { latentScale: state.latentScale } : {}),
    history: [...(state.lineage?.history ?? []), run],
  };
}

export async function exportModel(
  path: string,
  state: TrainState,
  info: ExportInfo,
  dtype: 'F32' | 'F16' = 'F32',
): Promise<number> {
  const { recipe } = state;
  const metadata = {
    ...checkpointMetadataFor(recipe.config, { seed: recipe.seed, kind: 'toy-sd1-trained' }),
    'cones.random_weights': 'false',
    'cones.generator': 'cones-nodes train-toy-model',
    'cones.train.recipe': JSON.stringify(recipe),
    'cones.train.steps': JSON.stringify(info.steps),
    'cones.train.final_losses': JSON.stringify(info.finalLosses),
    'cones.train.wall_seconds': state.wallSeconds.toFixed(1),
    ...(info.latentScale !== undefined ? { 'cones.train.latent_scale': String(info.latentScale) } : {}),
    ...historyMetadata(info.history),
  };
  const specs: TensorSpec[] = [...state.weights.shapes].map(([name, shape]) => ({ name, dtype, shape }));
  return writeSafetensors(
    path,
    specs,
    (spec) => {
      const values = state.ema.get(spec.name) ?? state.weights.values.get(spec.name)!;
      return dtype === 'F16' ? f32ToF16Array(values) : values;
    },
    { metadata },
  );
}
