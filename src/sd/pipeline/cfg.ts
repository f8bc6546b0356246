/**
 * Classifier-free guidance as ComfyUI computes it: the ε-model runs ONCE on the batch
 * [uncond entries…, cond entries…] (each entry repeated over the latent batch), every output becomes
 * an x̂₀ prediction x − σ·ε̂, entries of one side are averaged, and x̂₀ = u + (c − u)·cfg. With cfg = 1
 * the uncond half is skipped (ComfyUI's cfg1 optimisation).
 */

import { cfgCombine, epsToDenoised, scaleModelInput } from '../samplers/index.js';

/** One UNet evaluation over a batch: ε̂ for `sample` `[N, C, h, w]` at `timestep` `[N]` with `context` `[N, L, D]`. */
export type EpsModel = (input: {
  sample: Float32Array;
  timestep: Float32Array;
  context: Float32Array;
  batch: number;
  contextLength: number;
}) => Promise<Float32Array>;

/** A conditioning entry's hidden states, `[1, L, D]` flattened. */
export interface ContextEntry {
  data: Float32Array;
  length: number;
}

export interface GuidedDenoiserOptions {
  eps: EpsModel;
  positive: ContextEntry[];
  negative: ContextEntry[];
  cfg: number;
  /** Latent batch size B and the size of one latent `[C, h, w]`. */
  batch: number;
  latentSize: number;
  contextWidth: number;
  /** UNet timestep for a noise level (ComfyUI: nearest log-σ table index). */
  timestepOf: (sigma: number) => number;
}

/** Denoiser x̂₀(x, σ) for k-diffusion-style samplers; x is `[B, C, h, w]` in the VE (σ-scaled) space. */
export type Denoiser = (x: Float32Array, sigma: number) => Promise<Float32Array>;

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Repeats an entry's tokens to `length` (a multiple of its own length): attention over repeated keys is unchanged. */
function repeatTokens(entry: ContextEntry, length: number, width: number): Float32Array {
  if (entry.length === length) return entry.data;
  const out = new Float32Array(length * width);
  const chunk = entry.length * width;
  for (let offset = 0; offset < out.length; offset += chunk) out.set(entry.data.subarray(0, chunk), offset);
  return out;
}

/** Whether the uncond half is evaluated at all (ComfyUI skips it when cfg is 1). */
export function usesUncond(cfg: number): boolean {
  return Math.abs(cfg - 1) > 1e-9;
}

export function guidedDenoiser(options: GuidedDenoiserOptions): Denoiser {
  const { eps, cfg, batch, latentSize, contextWidth, timestepOf } = options;
  if (options.positive.length === 0) throw new Error('positive conditioning is empty');
  const withUncond = usesUncond(cfg);
  if (withUncond && options.negative.length === 0) throw new Error('negative conditioning is empty');
  const entries = withUncond ? [...options.negative, ...options.positive] : [...options.positive];
  const uncondCount = withUncond ? options.negative.length : 0;

  const contextLength = entries.reduce((l, e) => (l * e.length) / gcd(l, e.length), 1);
  const rows = entries.length * batch;
  const tokenBlock = contextLength * contextWidth;
  const context = new Float32Array(rows * tokenBlock);
  entries.forEach((entry, g) => {
    const repeated = repeatTokens(entry, contextLength, contextWidth);
    for (let b = 0; b < batch; b++) context.set(repeated, (g * batch + b) * tokenBlock);
  });

  return async (x, sigma) => {
    const n = batch * latentSize;
    const sample = new Float32Array(rows * latentSize);
    scaleModelInput(x, sigma, sample.subarray(0, n));
    for (let g = 1; g < entries.length; g++) sample.copyWithin(g * n, 0, n);
    const timestep = new Float32Array(rows).fill(timestepOf(sigma));
    const epsOut = await eps({ sample, timestep, context, batch: rows, contextLength });
    if (epsOut.length !== sample.length)
      throw new Error(`UNet returned ${epsOut.length} values, expected ${sample.length}`);

    // x̂₀ per entry, averaged within each side (ComfyUI: Σ out·mult / Σ mult, mult = 1 here).
    const side = (from: number, to: number): Float32Array => {
      const acc = epsToDenoised(x, epsOut, sigma, new Float32Array(n), from * n);
      if (to - from === 1) return acc;
      const one = new Float32Array(n);
      for (let g = from + 1; g < to; g++) {
        epsToDenoised(x, epsOut, sigma, one, g * n);
        for (let i = 0; i < n; i++) acc[i] += one[i];
      }
      for (let i = 0; i < n; i++) acc[i] /= to - from;
      return acc;
    };
    const cond = side(uncondCount, entries.length);
    if (!withUncond) return cond;
    return cfgCombine(
      side(0, uncondCount) as Float32Array<ArrayBuffer>,
      cond as Float32Array<ArrayBuffer>,
      cfg,
      cond as Float32Array<ArrayBuffer>,
    );
  };
}
