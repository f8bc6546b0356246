/**
 * SD1 (ε-prediction) model plumbing in ComfyUI's arithmetic (SD1_SPEC §5.2, Addendum D.4–D.6):
 * input scaling, ε → x̂₀, classifier-free guidance on x̂₀, and the initial latent.
 */
import type { DiscreteSchedule } from '../schedule.js';
import type { Denoiser } from './types.js';

const fr = Math.fround;

/** c_in = 1/√(σ² + 1): the UNet sees the VP-scaled latent x/√(σ² + 1) (`calculate_input`). */
export function scaleModelInput(
  x: Float32Array,
  sigma: number,
  out: Float32Array = new Float32Array(x.length),
): Float32Array {
  const s = fr(sigma);
  const denom = fr(Math.sqrt(fr(fr(s * s) + 1)));
  for (let k = 0; k < x.length; k++) out[k] = x[k] / denom;
  return out;
}

/** x̂₀ = x − σ·ε̂ (`calculate_denoised` for ε-prediction). `eps` may be longer than x (a batch slice). */
export function epsToDenoised(
  x: Float32Array,
  eps: Float32Array,
  sigma: number,
  out: Float32Array = new Float32Array(x.length),
  epsOffset = 0,
): Float32Array {
  const s = fr(sigma);
  for (let k = 0; k < x.length; k++) out[k] = x[k] - fr(eps[epsOffset + k] * s);
  return out;
}

/** Classifier-free guidance as ComfyUI applies it to x̂₀: u + (c − u)·cfg, written into `out`. */
export function cfgCombine(
  uncond: Float32Array,
  cond: Float32Array,
  cfg: number,
  out: Float32Array = new Float32Array(cond.length),
): Float32Array {
  if (uncond.length !== cond.length) throw new Error('cfgCombine: uncond and cond differ in length');
  const scale = fr(cfg);
  for (let k = 0; k < cond.length; k++) out[k] = uncond[k] + fr(fr(cond[k] - uncond[k]) * scale);
  return out;
}

/**
 * Whether sampling starts at the top of the schedule (`KSAMPLER.max_denoise`): σ₀ within 1e-5
 * relative of σ_max, or above it.
 */
export function isMaxDenoise(sigma0: number, schedule: DiscreteSchedule): boolean {
  const max = schedule.sigmaMax;
  return Math.abs(max - sigma0) <= 1e-5 * Math.max(Math.abs(max), Math.abs(sigma0)) || sigma0 > max;
}

/**
 * The latent a ComfyUI KSampler starts from (`EPS.noise_scaling`): noise·√(1 + σ₀²) + latent from
 * the top of the schedule (txt2img: latent = 0), otherwise latent + noise·σ₀ (img2img with
 * denoise < 1: the encoded image noised to σ₀). `latent` is in model space (VAE latent × 0.18215);
 * omit it for zeros.
 */
export function initialLatent(
  noise: Float32Array,
  sigmas: ArrayLike<number>,
  schedule: DiscreteSchedule,
  latent?: Float32Array,
): Float32Array {
  if (sigmas.length === 0) throw new RangeError('initialLatent: empty sigma list');
  if (latent && latent.length !== noise.length) {
    throw new RangeError(`initialLatent: latent has ${latent.length} values, noise ${noise.length}`);
  }
  const s0 = fr(sigmas[0]);
  const scale = isMaxDenoise(s0, schedule) ? fr(Math.sqrt(fr(1 + fr(s0 * s0)))) : s0;
  const out = new Float32Array(noise.length);
  for (let k = 0; k < noise.length; k++) out[k] = fr(noise[k] * scale) + (latent ? latent[k] : 0);
  return out;
}

/**
 * One UNet evaluation: `input` holds `copies` stacked copies of the scaled latent (copies = 2 for
 * CFG: the pipeline pairs the first half with the negative/uncond context and the second with the
 * positive one), `timestep` is the integral UNet timestep. Returns ε̂ for the whole input.
 */
export type EpsModel = (input: Float32Array, timestep: number, copies: 1 | 2) => Promise<Float32Array>;

/**
 * The Denoiser for an ε-prediction UNet with classifier-free guidance, as ComfyUI runs SD1:
 * input x/√(σ²+1), integral timestep of the nearest log σ, x̂₀ = x − σ·ε̂ per half, then
 * u + (c − u)·cfg on x̂₀. With cfg = 1 the uncond half is skipped (copies = 1).
 */
export function epsDenoiser(model: EpsModel, schedule: DiscreteSchedule, cfg: number): Denoiser {
  if (!Number.isFinite(cfg)) throw new RangeError(`cfg must be finite, got ${cfg}`);
  const skipUncond = Math.abs(cfg - 1) <= 1e-9;
  let input = new Float32Array(0);
  let uncond = new Float32Array(0);
  return async (x, sigma) => {
    const n = x.length;
    const copies = skipUncond ? 1 : 2;
    if (input.length !== n * copies) input = new Float32Array(n * copies);
    scaleModelInput(x, sigma, input.subarray(0, n));
    if (copies === 2) input.copyWithin(n, 0, n);
    const eps = await model(input, schedule.sigmaToTimestep(sigma), copies);
    if (eps.length !== n * copies)
      throw new Error(`UNet returned ${eps.length} values, expected ${n * copies}`);
    const denoised = new Float32Array(n);
    if (copies === 1) return epsToDenoised(x, eps, sigma, denoised);
    if (uncond.length !== n) uncond = new Float32Array(n);
    epsToDenoised(x, eps, sigma, uncond, 0);
    epsToDenoised(x, eps, sigma, denoised, n);
    return cfgCombine(uncond, denoised, cfg, denoised);
  };
}
