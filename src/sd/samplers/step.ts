import type { Denoiser, SamplerOptions } from './types.js';

/** One model call with the checks every call needs: abort first, then the returned length. */
export async function callDenoiser(
  denoiser: Denoiser,
  x: Float32Array,
  sigma: number,
  options: SamplerOptions,
): Promise<Float32Array> {
  options.signal?.throwIfAborted();
  const denoised = await denoiser(x, sigma);
  if (denoised.length !== x.length) {
    throw new Error(`denoiser returned ${denoised.length} values for a latent of ${x.length}`);
  }
  return denoised;
}

/** The shared part of every step: abort check, model call, length check, progress report. */
export async function denoiseStep(
  denoiser: Denoiser,
  x: Float32Array,
  sigmas: ArrayLike<number>,
  i: number,
  options: SamplerOptions,
): Promise<Float32Array> {
  const sigma = sigmas[i];
  const denoised = await callDenoiser(denoiser, x, sigma, options);
  if (options.onStep) {
    await options.onStep({ step: i, total: sigmas.length - 1, sigma, sigmaNext: sigmas[i + 1], x, denoised });
  }
  return denoised;
}

export function checkSigmas(sigmas: ArrayLike<number>): void {
  for (let i = 0; i < sigmas.length; i++) {
    const s = sigmas[i];
    if (!Number.isFinite(s) || s < 0)
      throw new RangeError(`sigma ${i} is ${s}; sigmas must be finite and ≥ 0`);
  }
}

/** The options every ancestral sampler reads; the noise source is required (`name` is for the error). */
export function ancestralOptions(
  name: string,
  options: SamplerOptions,
): { noise: NonNullable<SamplerOptions['noise']>; eta: number; sNoise: number } {
  const noise = options.noise;
  if (!noise) throw new Error(`${name} needs a noise source (options.noise)`);
  return { noise, eta: options.eta ?? 1, sNoise: Math.fround(options.sNoise ?? 1) };
}
