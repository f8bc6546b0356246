import { callDenoiser, checkSigmas, denoiseStep } from './step.js';
import type { Sampler } from './types.js';

const fr = Math.fround;

/**
 * Heun's method (Karras et al. 2022, Alg. 1/2 with S_churn = 0; k-diffusion `sample_heun`,
 * ComfyUI `heun`): an Euler predictor to σ′ and a trapezoidal corrector with a second model call;
 * the final step to σ = 0 is plain Euler. Second order, two model calls per step.
 */
export const sampleHeun: Sampler = async (denoiser, x0, sigmas, options = {}) => {
  checkSigmas(sigmas);
  const x = Float32Array.from(x0);
  const d = new Float32Array(x.length);
  const x2 = new Float32Array(x.length);
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const denoised = await denoiseStep(denoiser, x, sigmas, i, options);
    const sigma = fr(sigmas[i]);
    const sigmaNext = fr(sigmas[i + 1]);
    const dt = fr(sigmaNext - sigma);
    for (let k = 0; k < x.length; k++) d[k] = fr(x[k] - denoised[k]) / sigma;
    if (sigmaNext === 0) {
      for (let k = 0; k < x.length; k++) x[k] = x[k] + fr(d[k] * dt);
      continue;
    }
    for (let k = 0; k < x.length; k++) x2[k] = x[k] + fr(d[k] * dt);
    const denoised2 = await callDenoiser(denoiser, x2, sigmaNext, options);
    for (let k = 0; k < x.length; k++) {
      const d2 = fr(fr(x2[k] - denoised2[k]) / sigmaNext);
      x[k] = x[k] + fr(fr(fr(d[k] + d2) / 2) * dt);
    }
  }
  return x;
};
