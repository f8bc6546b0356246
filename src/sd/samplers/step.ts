import type { Denoiser, SamplerOptions } from './types.js';

/** The shared part of every step: abort check, model call, length check, progress report. */
export async function denoiseStep(
  denoiser: Denoiser,
  x: Float32Array,
  sigmas: ArrayLike<number>,
  i: number,
  options: SamplerOptions,
): Promise<Float32Array> {
  options.signal?.throwIfAborted();
  const sigma = sigmas[i];
  const denoised = await denoiser(x, sigma);
  if (denoised.length !== x.length) {
    throw new Error(`denoiser returned ${denoised.length} values for a latent of ${x.length}`);
  }
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
