/**
 * The trained model as a single-file LDM-layout checkpoint (what CheckpointLoaderSimple loads): the
 * UNet from its EMA when there is one, the VAE and CLIP as trained (or as initialised), and the
 * recipe, steps, final losses and wall time in `__metadata__`.
 */
import { f32ToF16Array } from '../sd/checkpoint/dtype.js';
import { type TensorSpec, writeSafetensors } from '../sd/checkpoint/safetensors-writer.js';
import { checkpointMetadataFor } from '../sd/tiny-model.js';
import type { TrainState } from './state.js';

export interface ExportInfo {
  /** Completed steps per stage. */
  steps: Record<string, number>;
  /** Latest loss per stage (a mean over the last logged steps). */
  finalLosses: Record<string, number>;
  /** Latent normalisation folded into the VAE (see normaliseLatents), when it was. */
  latentScale?: number;
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
