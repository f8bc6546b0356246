/**
 * SD1 multiplies VAE latents by a fixed 0.18215 (the loader does not read a factor from the file),
 * which suits LDM's kl-f8 latents (std ≈ 5.5) but not a freshly trained VAE. After the VAE stage the
 * trainer measures the std s of the posterior mean on toy images and folds k = 1/(0.18215·s) into
 * the VAE — quant_conv's mean rows ×k and logvar bias +2·ln k, post_quant_conv's input columns ×1/k —
 * an exact reparametrisation after which 0.18215·z has unit std, as SD1's pipeline expects.
 */
import { VAE_PREFIX } from '../sd/checkpoint/sd1-tensors.js';
import { SD1_VAE_SCALING_FACTOR } from '../sd/graphs/index.js';
import { STREAM, toyBatch } from './data.js';
import type { TensorSet } from './model-init.js';
import { streamSeed } from './random.js';
import type { TrainRecipe } from './recipe.js';
import { encodeLatents, openVaeEncoder, type StageOptions } from './stages.js';

/** Steps of the data stream reserved for measurements (never a training step). */
const MEASURE_STEP_BASE = 2 ** 40;

/** Std of the VAE posterior mean over `batches` × `batch` toy images. */
export async function latentStd(
  recipe: TrainRecipe,
  weights: TensorSet,
  batches: number,
  batch: number,
  opts: StageOptions = {},
): Promise<number> {
  const encoder = await openVaeEncoder(recipe, weights, batch, opts);
  try {
    let sum = 0;
    let sq = 0;
    let n = 0;
    for (let i = 0; i < batches; i++) {
      const step = MEASURE_STEP_BASE + i;
      const data = toyBatch(recipe.seed, step, batch, recipe.imageSize, recipe.world);
      const { mean } = await encodeLatents(encoder, data, streamSeed(recipe.seed, STREAM.latentNoise, step), {
        batch,
        size: recipe.imageSize,
      });
      for (const x of mean) {
        sum += x;
        sq += x * x;
        n++;
      }
    }
    const m = sum / n;
    return Math.sqrt(Math.max(sq / n - m * m, 0));
  } finally {
    await encoder.release();
  }
}

/** Folds the factor k into quant_conv / post_quant_conv in place; returns k. */
export function foldLatentScale(weights: TensorSet, latentChannels: number, std: number): number {
  if (!(std > 0)) throw new Error(`latent std must be positive, got ${std}`);
  const k = 1 / (SD1_VAE_SCALING_FACTOR * std);
  const get = (name: string) => {
    const v = weights.values.get(`${VAE_PREFIX}${name}`);
    if (!v) throw new Error(`VAE weight ${name} missing`);
    return v;
  };
  const qw = get('quant_conv.weight'); // [2c, 2c, 1, 1]
  const qb = get('quant_conv.bias');
  const pw = get('post_quant_conv.weight'); // [c, c, 1, 1]
  const c = latentChannels;
  const inputs = 2 * c;
  for (let o = 0; o < c; o++) {
    for (let i = 0; i < inputs; i++) qw[o * inputs + i] *= k;
    qb[o] *= k;
  }
  for (let o = c; o < 2 * c; o++) qb[o] += 2 * Math.log(k);
  for (let o = 0; o < c; o++) for (let i = 0; i < c; i++) pw[o * c + i] /= k;
  return k;
}
