/**
 * The SD1 UNet's own training graph (training a model from scratch, not Cones): ε-prediction with
 * every UNet weight a graph input named by its canonical key, and the gradient of each from the
 * engine's reverse-mode `grad`.
 *
 *   x_t  = √ᾱ_b · x0_b + √(1−ᾱ_b) · ε_b
 *   loss = mean over b, c, y, x of (UNet_W(x_t, t_b, c_b) − ε_b)²
 *
 * The text encoder is frozen by default: the graph then takes the context [B, L, D] as an input (the
 * caller encodes captions once and reuses them). With `trainTextEncoder` the graph takes input_ids
 * and runs CLIP inside, its weights inputs too.
 */
import { Builder, grad } from '../../onnx/index.js';
import type { SD1Config } from '../config.js';
import { UNET_KEY_PREFIX } from './kv.js';
import { Net } from './layers.js';
import { TEXT_KEY_PREFIX, textEncoderForward } from './text-encoder.js';
import { type AttentionRecompute, type BuiltGraph, checkLatentSize, unetForward } from './unet.js';
import type { Weights } from './weights.js';

export const UNET_TRAINING_INPUTS = {
  latents: 'latents',
  noise: 'noise',
  timestep: 'timestep',
  context: 'encoder_hidden_states',
  inputIds: 'input_ids',
  sqrtAlphaBar: 'sqrt_alpha_bar',
  sqrtOneMinusAlphaBar: 'sqrt_one_minus_alpha_bar',
} as const;
export const MODEL_TRAINING_LOSS = 'loss';

/** Output name of the gradient of the weight input `key`. */
export function weightGradName(key: string): string {
  return `grad.${key}`;
}

export interface UnetTrainingGraphOptions {
  batch: number;
  /** Latent height and width. */
  height: number;
  width: number;
  /** Token positions per caption (default 77). */
  contextLength?: number;
  /** Train CLIP too (its weights become inputs; the graph takes input_ids). Default false. */
  trainTextEncoder?: boolean;
  /** Attention maps re-derived in the backward (default 'none': small models keep them). */
  recomputeAttention?: AttentionRecompute;
  /** Largest attention map per core in bytes before the query axis is chunked (default: no limit). */
  attentionMapBudget?: number;
}

export interface TrainingGraph extends BuiltGraph {
  /** Canonical keys of the weight inputs, in input order; each has an output `grad.<key>`. */
  trainableKeys: string[];
}

/**
 * Inputs: latents, noise [B, 4, h, w] (latents already scaled); timestep, sqrt_alpha_bar,
 * sqrt_one_minus_alpha_bar [B]; encoder_hidden_states [B, L, D] (frozen CLIP) or input_ids int32
 * [B, L] (trained CLIP); one input per trainable weight, named by its key. Outputs: loss [] and
 * `grad.<key>` per trainable weight. float32 throughout.
 */
export function buildUnetTrainingGraph(
  config: SD1Config,
  weights: Weights,
  opts: UnetTrainingGraphOptions,
): TrainingGraph {
  const u = config.unet;
  checkLatentSize(opts.height, opts.width);
  if (u.inChannels !== u.outChannels)
    throw new Error(
      `training needs a txt2img UNet (in = out channels), got ${u.inChannels} → ${u.outChannels}`,
    );
  const B = opts.batch;
  const L = opts.contextLength ?? config.text.maxPositions;
  const latentShape = [B, u.inChannels, opts.height, opts.width];
  const trainText = opts.trainTextEncoder ?? false;
  const b = new Builder('sd1_unet_training');
  const x0 = b.input(UNET_TRAINING_INPUTS.latents, 'float32', latentShape);
  const noise = b.input(UNET_TRAINING_INPUTS.noise, 'float32', latentShape);
  const t = b.input(UNET_TRAINING_INPUTS.timestep, 'float32', [B]);
  const sa = b.input(UNET_TRAINING_INPUTS.sqrtAlphaBar, 'float32', [B]);
  const sb = b.input(UNET_TRAINING_INPUTS.sqrtOneMinusAlphaBar, 'float32', [B]);
  const net = new Net(
    b,
    weights,
    'float32',
    undefined,
    (key) => key.startsWith(UNET_KEY_PREFIX) || (trainText && key.startsWith(TEXT_KEY_PREFIX)),
  );
  const context = trainText
    ? textEncoderForward(net, config.text, b.input(UNET_TRAINING_INPUTS.inputIds, 'int32', [B, L]))
    : b.input(UNET_TRAINING_INPUTS.context, 'float32', [B, L, u.contextDim]);

  const perSample = (v: typeof sa) => b.reshape(v, [B, 1, 1, 1]);
  const xt = b.scope('add_noise', () => b.add(b.mul(x0, perSample(sa)), b.mul(noise, perSample(sb)), 'x_t'));
  const eps = unetForward(net, u, xt, t, context, {
    recomputeAttention: opts.recomputeAttention ?? 'none',
    attentionMapBudget: opts.attentionMapBudget,
  });
  const loss = b.scope('loss', () => b.mse(eps, noise, 'mse'));
  const keys = [...net.weightInputs.keys()];
  grad(b, loss, [...net.weightInputs.values()], {
    names: keys.map(weightGradName),
    lossName: MODEL_TRAINING_LOSS,
  });
  return { builder: b, kvKeys: [], trainableKeys: keys };
}
