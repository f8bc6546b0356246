/**
 * The Cones training graph (Algorithm A2's inner step): the SD1 ε-prediction loss with every K/V
 * weight in scope multiplied by ξ, and ∂loss/∂ξ from the engine's reverse-mode `grad`.
 *
 *   x_t  = √ᾱ_b · x0_b + √(1−ᾱ_b) · ε_b
 *   ε̂    = UNet_{W ⊙ ξ}(x_t, t_b, c_b)
 *   loss = Σ_b w_b · mean((ε̂_b − ε_b)²)
 *
 * √ᾱ and √(1−ᾱ) are inputs (the caller reads them from the schedule table for its timesteps), so one
 * graph serves any schedule. Self-attention cores are recompute segments: the backward re-derives the
 * softmax maps instead of keeping every [B, heads, N, N] probability tensor alive.
 */
import { Builder, grad, type Value } from '../../onnx/index.js';
import type { SD1Config } from '../config.js';
import { type KvScope, kvGradName, kvInputName, kvWeights } from './kv.js';
import { ioDtype, Net, toCompute } from './layers.js';
import {
  type AttentionRecompute,
  type BuiltGraph,
  checkLatentSize,
  type UnetShape,
  unetForward,
} from './unet.js';
import type { GraphDType, Weights } from './weights.js';

export const TRAINING_INPUTS = {
  latents: 'latents',
  noise: 'noise',
  timestep: 'timestep',
  context: 'encoder_hidden_states',
  lossWeight: 'loss_weight',
  sqrtAlphaBar: 'sqrt_alpha_bar',
  sqrtOneMinusAlphaBar: 'sqrt_one_minus_alpha_bar',
} as const;
export const TRAINING_LOSS = 'loss';

export interface TrainingGraphOptions extends UnetShape {
  scope: KvScope;
  /** float32 (default) or float64 (reference checks; lower it with lowerForFloat64 before running on CPU). */
  dtype?: Exclude<GraphDType, 'float16'>;
  /**
   * Attention maps re-derived in the backward instead of kept: 'self' (default: the N×N self-attention
   * maps, 10 GiB at SD width, 64² latents, batch 4), 'all', or 'none' (fastest, most memory).
   */
  recomputeAttention?: AttentionRecompute;
  /** Largest attention map per core in bytes before the query axis is chunked (default 512 MiB). */
  attentionMapBudget?: number;
}

export const DEFAULT_TRAINING_ATTENTION_BUDGET = 512 * 2 ** 20;

/**
 * Live activations one training run may hold (default 2 GiB). A batch whose estimate exceeds it runs
 * as several runs of fewer samples whose losses and gradients are added (`trainingSamplesPerRun`):
 * the loss is a sum over samples, so that is exact up to float32 summation order. Smaller runs were
 * also faster: full-width SD1, 512 px, 2 + 2 samples, all-attention scope, peak RSS / step: one run
 * of 4 15.9 GiB / 84 s, runs of 2 9.8 GiB / 68–74 s, runs of 1 7.6 GiB / 69 s (bench:cones --full).
 */
export const DEFAULT_TRAINING_ACTIVATION_BUDGET = 2 * 2 ** 30;

/**
 * Static peak of live activations per sample, latent pixel and model channel, with attention
 * recomputed ('self') and chunked at the default map budget. From the SD-width liveness measurement
 * (`npx tsx test/sd/graphs/measure.ts liveness B S`, scope all): 1.6 / 2.8 / 4.1 / 7.8 GiB for
 * batch·latent pixels of 2·32², 1·64², 2·64², 4·64² at 320 channels — about 0.46 GiB per 1,024
 * sample-pixels plus a fixed 0.5 GiB (ξ gradients, chunk transients).
 */
const ACTIVATION_BYTES_PER_SAMPLE_PIXEL_CHANNEL = (0.46 * 2 ** 30) / (1024 * 320);

/** Estimated peak activation bytes of one training run (see the constant above). */
export function trainingActivationBytes(modelChannels: number, batch: number, height: number, width: number) {
  return batch * height * width * modelChannels * ACTIVATION_BYTES_PER_SAMPLE_PIXEL_CHANNEL;
}

/**
 * Samples per training run for a step of `batch` samples: the largest divisor of `batch` whose
 * estimated activations fit `budget` (at least 1), so one graph, built at that batch, serves every run.
 */
export function trainingSamplesPerRun(
  modelChannels: number,
  batch: number,
  height: number,
  width: number,
  budget = DEFAULT_TRAINING_ACTIVATION_BUDGET,
): number {
  for (let d = batch; d > 1; d--)
    if (batch % d === 0 && trainingActivationBytes(modelChannels, d, height, width) <= budget) return d;
  return 1;
}

/**
 * Inputs: latents, noise [B, 4, h, w]; timestep, loss_weight, sqrt_alpha_bar, sqrt_one_minus_alpha_bar [B];
 * encoder_hidden_states [B, L, Dc]; `xi:<key>` for every K/V weight in scope (weight shape; all ones = the
 * base model). Outputs: loss [] and `grad:<key>` per ξ (weight shape).
 */
export function buildTrainingGraph(
  config: SD1Config,
  weights: Weights,
  opts: TrainingGraphOptions,
): BuiltGraph {
  const u = config.unet;
  const dtype = opts.dtype ?? 'float32';
  checkLatentSize(opts.height, opts.width);
  const io = ioDtype(dtype);
  const B = opts.batch;
  const latentShape = [B, u.inChannels, opts.height, opts.width];
  if (u.inChannels !== u.outChannels)
    throw new Error(
      `training needs a txt2img UNet (in = out channels), got ${u.inChannels} → ${u.outChannels}`,
    );
  const b = new Builder('sd1_cones_training');
  const x0 = b.input(TRAINING_INPUTS.latents, io, latentShape);
  const noise = b.input(TRAINING_INPUTS.noise, io, latentShape);
  const t = b.input(TRAINING_INPUTS.timestep, io, [B]);
  const ctx = b.input(TRAINING_INPUTS.context, io, [B, opts.contextLength ?? 77, u.contextDim]);
  const lossWeight = b.input(TRAINING_INPUTS.lossWeight, io, [B]);
  const sa = b.input(TRAINING_INPUTS.sqrtAlphaBar, io, [B]);
  const sb = b.input(TRAINING_INPUTS.sqrtOneMinusAlphaBar, io, [B]);

  const xi = new Map<string, Value>();
  for (const w of kvWeights(u, opts.scope)) xi.set(w.key, b.input(kvInputName(w.key), dtype, w.shape));
  const net = new Net(b, weights, dtype, (key) => xi.get(key));

  const perSample = (v: Value) => b.reshape(v, [B, 1, 1, 1]);
  const xt = b.scope('add_noise', () => b.add(b.mul(x0, perSample(sa)), b.mul(noise, perSample(sb)), 'x_t'));
  const eps = unetForward(net, u, toCompute(net, xt), t, toCompute(net, ctx), {
    recomputeAttention: opts.recomputeAttention ?? 'self',
    attentionMapBudget: opts.attentionMapBudget ?? DEFAULT_TRAINING_ATTENTION_BUDGET,
  });
  const loss = b.scope('loss', () => {
    const d = b.sub(eps, noise, 'error');
    const mse = b.reduceMean(b.mul(d, d), [1, 2, 3], false);
    return b.reduceSum(b.mul(mse, lossWeight), [0], false);
  });
  const keys = [...xi.keys()];
  grad(b, loss, [...xi.values()], { names: keys.map(kvGradName), lossName: TRAINING_LOSS });
  return { builder: b, kvKeys: keys };
}
