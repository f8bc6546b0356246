import { ancestralOptions, checkSigmas, denoiseStep } from './step.js';
import type { Sampler } from './types.js';

const fr = Math.fround;

/**
 * σ_down and σ_up of an ancestral step from σ to σ′ (k-diffusion `get_ancestral_step`): the
 * deterministic step goes to σ_down, then fresh noise of scale σ_up brings the level back to σ′.
 */
export function ancestralStep(sigma: number, sigmaNext: number, eta = 1): { down: number; up: number } {
  if (!eta) return { down: sigmaNext, up: 0 };
  const s2 = fr(sigma * sigma);
  const n2 = fr(sigmaNext * sigmaNext);
  const up = Math.min(sigmaNext, fr(eta * fr(Math.sqrt(fr(fr(n2 * fr(s2 - n2)) / s2)))));
  const down = fr(Math.sqrt(fr(n2 - fr(up * up))));
  return { down, up };
}

/**
 * Ancestral Euler (k-diffusion `sample_euler_ancestral`, ComfyUI `euler_ancestral`): an Euler step
 * to σ_down plus σ_up·z with fresh noise z per step; the last step (σ′ = 0) returns x̂₀.
 */
export const sampleEulerAncestral: Sampler = async (denoiser, x0, sigmas, options = {}) => {
  checkSigmas(sigmas);
  const { noise, eta, sNoise } = ancestralOptions('euler_ancestral', options);
  const x = Float32Array.from(x0);
  const z = new Float32Array(x.length);
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const denoised = await denoiseStep(denoiser, x, sigmas, i, options);
    const sigma = fr(sigmas[i]);
    const { down, up } = ancestralStep(sigma, fr(sigmas[i + 1]), eta);
    if (down === 0) {
      x.set(denoised);
      continue;
    }
    const dt = fr(down - sigma);
    noise(z);
    for (let k = 0; k < x.length; k++) {
      const d = fr(fr(x[k] - denoised[k]) / sigma);
      x[k] = fr(x[k] + fr(d * dt)) + fr(fr(z[k] * sNoise) * up);
    }
  }
  return x;
};
