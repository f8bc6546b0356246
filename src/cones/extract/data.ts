/**
 * Training data of an extraction in latent space: images resized and centre-cropped to the resolution,
 * encoded once to the VAE posterior (mean, logvar; also mirrored when hflip is on), prompts encoded
 * once, and the per-step batch drawn from (seed, step) only.
 */

import { scaleImage } from '../../image/resize.js';
import type { Sd1Sessions } from '../../sd/graphs/sessions.js';
import { SD1_VAE_SCALING_FACTOR } from '../../sd/graphs/vae.js';
import { imageToVaePixels } from '../../sd/pipeline/image-tensors.js';
import { sd1Schedule, TRAIN_TIMESTEPS } from '../../sd/schedule.js';
import { tokenize } from '../../sd/tokenizer/index.js';
import type { Tensor } from '../../shared/types.js';
import type { StepRandom } from './rng.js';

/** Latent-space samples of one set: posterior means/logvars (logvar absent = deterministic latents). */
export interface LatentSet {
  /** [N·4·h·w] unscaled posterior means (or latents already in model space when `scaled`). */
  mean: Float32Array;
  logvar?: Float32Array;
  /** Mirrored copies (hflip), same layout. */
  flippedMean?: Float32Array;
  flippedLogvar?: Float32Array;
  count: number;
  /** True when `mean` is already × scaling factor (kept training data, generated priors). */
  scaled: boolean;
}

function flipImage(t: Tensor): Tensor {
  const [b, h, w, c] = t.shape;
  const out = new Float32Array(t.data.length);
  for (let n = 0; n < b; n++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const src = ((n * h + y) * w + x) * c;
        const dst = ((n * h + y) * w + (w - 1 - x)) * c;
        for (let ch = 0; ch < c; ch++) out[dst + ch] = t.data[src + ch];
      }
  return { data: out, shape: [...t.shape] };
}

/** IMAGE → square `resolution` crop → VAE posterior of each image (and of its mirror). */
export async function encodeImages(
  sessions: Sd1Sessions,
  images: Tensor,
  resolution: number,
  hflip: boolean,
  checkInterrupt: () => void,
): Promise<LatentSet> {
  const [count, , , channels] = images.shape;
  if (images.shape.length !== 4 || channels < 3)
    throw new Error(`images must be an IMAGE [B, H, W, 3], got [${images.shape.join(', ')}]`);
  const sized = await scaleImage(images, 'bilinear', resolution, resolution, 'center');
  const rgb = channels === 3 ? sized : dropAlpha(sized);
  const enc = await sessions.vaeEncoder({ batch: 1, height: resolution, width: resolution });
  const encodeAll = async (t: Tensor) => {
    const pixels = imageToVaePixels(t);
    const per = 3 * resolution * resolution;
    const lat = 4 * (resolution / 8) ** 2;
    const mean = new Float32Array(count * lat);
    const logvar = new Float32Array(count * lat);
    for (let i = 0; i < count; i++) {
      checkInterrupt();
      const r = await enc.run(pixels.data.subarray(i * per, (i + 1) * per));
      mean.set(r.mean as Float32Array, i * lat);
      logvar.set(r.logvar as Float32Array, i * lat);
    }
    return { mean, logvar };
  };
  const plain = await encodeAll(rgb);
  const set: LatentSet = { ...plain, count, scaled: false };
  if (hflip) {
    const f = await encodeAll(flipImage(rgb));
    set.flippedMean = f.mean;
    set.flippedLogvar = f.logvar;
  }
  return set;
}

function dropAlpha(t: Tensor): Tensor {
  const [b, h, w, c] = t.shape;
  const out = new Float32Array(b * h * w * 3);
  for (let i = 0; i < b * h * w; i++) for (let ch = 0; ch < 3; ch++) out[i * 3 + ch] = t.data[i * c + ch];
  return { data: out, shape: [b, h, w, 3] };
}

/** Hidden states [77·D] of a prompt's first token window. */
export async function encodePrompt(sessions: Sd1Sessions, text: string): Promise<Float32Array> {
  const runner = await sessions.textEncoder({ batch: 1 });
  return Float32Array.from(await runner.run(tokenize(text).chunks[0].ids));
}

/** One model-space latent drawn from a set: z = (mean + exp(logvar/2)·ε)·0.18215 (or the kept latent). */
export function drawLatent(
  set: LatentSet,
  rng: StepRandom,
  hflip: boolean,
  out: Float32Array,
  offset: number,
  size: number,
): void {
  const index = rng.int(set.count);
  const flip = hflip && set.flippedMean !== undefined && rng.uniform() < 0.5;
  const mean = (flip ? set.flippedMean! : set.mean).subarray(index * size, (index + 1) * size);
  const logvar = set.logvar
    ? (flip ? set.flippedLogvar! : set.logvar).subarray(index * size, (index + 1) * size)
    : undefined;
  const k = set.scaled ? 1 : SD1_VAE_SCALING_FACTOR;
  for (let i = 0; i < size; i++) {
    const z = logvar ? mean[i] + Math.exp(logvar[i] / 2) * rng.normal() : mean[i];
    out[offset + i] = z * k;
  }
}

export interface SubjectData {
  instance: LatentSet;
  /** Instance prompt hidden states [77·D]. */
  instanceContext: Float32Array;
  prior?: LatentSet;
  priorContext?: Float32Array;
}

export interface TrainingBatch {
  batch: number;
  latents: Float32Array;
  noise: Float32Array;
  timestep: Float32Array;
  context: Float32Array;
  lossWeight: Float32Array;
  sqrtAlphaBar: Float32Array;
  sqrtOneMinusAlphaBar: Float32Array;
}

let alphasCumprod: Float64Array | undefined;

/**
 * The batch of one step: `batchSize` instance samples then `batchSize` prior samples, timesteps uniform
 * in [0, 1000), fresh noise; loss weights 1/batchSize and λ/batchSize so the graph's weighted sum is
 * instance MSE + λ·prior MSE.
 */
export function drawBatch(
  data: SubjectData,
  rng: StepRandom,
  o: { batchSize: number; priorLossWeight: number; hflip: boolean; latentSize: number; contextSize: number },
): TrainingBatch {
  alphasCumprod ??= sd1Schedule().alphasCumprod;
  const withPrior = data.prior !== undefined;
  const B = withPrior ? 2 * o.batchSize : o.batchSize;
  const n = o.latentSize;
  const b: TrainingBatch = {
    batch: B,
    latents: new Float32Array(B * n),
    noise: new Float32Array(B * n),
    timestep: new Float32Array(B),
    context: new Float32Array(B * o.contextSize),
    lossWeight: new Float32Array(B),
    sqrtAlphaBar: new Float32Array(B),
    sqrtOneMinusAlphaBar: new Float32Array(B),
  };
  for (let i = 0; i < B; i++) {
    const prior = i >= o.batchSize;
    drawLatent(prior ? data.prior! : data.instance, rng, o.hflip, b.latents, i * n, n);
    b.context.set(prior ? data.priorContext! : data.instanceContext, i * o.contextSize);
    b.lossWeight[i] = (prior ? o.priorLossWeight : 1) / o.batchSize;
  }
  for (let i = 0; i < B; i++) {
    const t = rng.int(TRAIN_TIMESTEPS);
    b.timestep[i] = t;
    b.sqrtAlphaBar[i] = Math.sqrt(alphasCumprod[t]);
    b.sqrtOneMinusAlphaBar[i] = Math.sqrt(1 - alphasCumprod[t]);
  }
  rng.fillNormal(b.noise);
  return b;
}
