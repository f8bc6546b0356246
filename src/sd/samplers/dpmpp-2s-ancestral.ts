import { ancestralStep } from './euler-ancestral.js';
import { ancestralOptions, callDenoiser, checkSigmas, denoiseStep } from './step.js';
import type { Sampler } from './types.js';

const fr = Math.fround;

/**
 * Ancestral DPM-Solver++(2S) (Lu et al. 2022, "DPM-Solver++", single-step second order with the
 * midpoint r = ½; k-diffusion `sample_dpmpp_2s_ancestral`, ComfyUI `dpmpp_2s_ancestral`): a
 * two-stage step to σ_down, then σ_up·z fresh noise. Two model calls per step; the last step (to
 * σ = 0) is one Euler step.
 */
export const sampleDpmpp2sAncestral: Sampler = async (denoiser, x0, sigmas, options = {}) => {
  checkSigmas(sigmas);
  const { noise, eta, sNoise } = ancestralOptions('dpmpp_2s_ancestral', options);
  const x = Float32Array.from(x0);
  const x2 = new Float32Array(x.length);
  const z = new Float32Array(x.length);
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const denoised = await denoiseStep(denoiser, x, sigmas, i, options);
    const sigma = fr(sigmas[i]);
    const { down, up } = ancestralStep(sigma, fr(sigmas[i + 1]), eta);
    if (down === 0) {
      const dt = fr(down - sigma);
      for (let k = 0; k < x.length; k++) x[k] = x[k] + fr(fr(fr(x[k] - denoised[k]) / sigma) * dt);
    } else {
      const t = fr(-Math.log(sigma));
      const tNext = fr(-Math.log(down));
      const h = fr(tNext - t);
      const s = fr(t + fr(0.5 * h));
      const sigmaS = fr(Math.exp(-s));
      const ratioS = fr(sigmaS / fr(Math.exp(-t)));
      const emS = fr(Math.expm1(fr(-h * 0.5)));
      for (let k = 0; k < x.length; k++) x2[k] = fr(ratioS * x[k]) - fr(emS * denoised[k]);
      const denoised2 = await callDenoiser(denoiser, x2, sigmaS, options);
      const ratio = fr(fr(Math.exp(-tNext)) / fr(Math.exp(-t)));
      const em = fr(Math.expm1(-h));
      for (let k = 0; k < x.length; k++) x[k] = fr(ratio * x[k]) - fr(em * denoised2[k]);
    }
    if (fr(sigmas[i + 1]) > 0) {
      noise(z);
      for (let k = 0; k < x.length; k++) x[k] = x[k] + fr(fr(z[k] * sNoise) * up);
    }
  }
  return x;
};
