import type { NoiseSource } from '../noise/index.js';

/**
 * The model as samplers see it (k-diffusion convention): given the noisy latent x at noise level
 * σ (VE form, x = x₀ + σ·ε), return the denoised prediction x̂₀ as a fresh array of x's length
 * that the sampler owns (multistep samplers keep the previous one). It must not keep `x`, which
 * the sampler updates in place. For SD1 build it with `epsDenoiser`.
 */
export type Denoiser = (x: Float32Array, sigma: number) => Promise<Float32Array>;

/** Reported once per step, after the model call and before the update (as ComfyUI's callback). */
export interface StepInfo {
  /** 0-based step index; ComfyUI's progress value is step + 1 */
  step: number;
  /** total steps = sigmas.length − 1 */
  total: number;
  sigma: number;
  sigmaNext: number;
  /** the latent going into this step — a live buffer: copy it to keep it */
  x: Float32Array;
  /** the model's x̂₀ at this step (the latent previews show) — copy it to keep it */
  denoised: Float32Array;
}

export interface SamplerOptions {
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** fresh N(0, 1) noise per step; required by ancestral samplers (see `comfyNoiseSource`) */
  noise?: NoiseSource;
  /** checked before every model call; an aborted signal rejects with its reason */
  signal?: AbortSignal;
  /** ancestral η (default 1) */
  eta?: number;
  /** scale of the ancestral noise (default 1) */
  sNoise?: number;
}

/**
 * A sampler: integrates from sigmas[0] down to sigmas[last] and returns the final latent. `x` is
 * the initial latent already scaled to sigmas[0] (see `initialLatent`); it is not modified.
 */
export type Sampler = (
  denoiser: Denoiser,
  x: Float32Array,
  sigmas: ArrayLike<number>,
  options?: SamplerOptions,
) => Promise<Float32Array>;
