import { checkSigmas, denoiseStep } from './step.js';
import type { Sampler } from './types.js';

const fr = Math.fround;

/**
 * Euler's method on the probability-flow ODE dx/dσ = (x − x̂₀)/σ (Karras et al. 2022, Alg. 2
 * with S_churn = 0; k-diffusion `sample_euler`). ComfyUI's `ddim` runs this same update.
 * Arithmetic is rounded to float32 per operation as torch does on CPU.
 */
export const sampleEuler: Sampler = async (denoiser, x0, sigmas, options = {}) => {
  checkSigmas(sigmas);
  const x = Float32Array.from(x0);
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const denoised = await denoiseStep(denoiser, x, sigmas, i, options);
    const sigma = fr(sigmas[i]);
    const dt = fr(sigmas[i + 1] - sigma);
    for (let k = 0; k < x.length; k++) {
      const d = fr(fr(x[k] - denoised[k]) / sigma);
      x[k] = x[k] + fr(d * dt);
    }
  }
  return x;
};
