import { checkSigmas, denoiseStep } from './step.js';
import type { Sampler } from './types.js';

const fr = Math.fround;

/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Alg. 2; k-diffusion `sample_dpmpp_2m`,
 * ComfyUI `dpmpp_2m`): a multistep second-order solver in λ = −log σ using the previous x̂₀.
 * First order on the first step and on a final step to σ = 0 (which returns x̂₀).
 */
export const sampleDpmpp2m: Sampler = async (denoiser, x0, sigmas, options = {}) => {
  checkSigmas(sigmas);
  const x = Float32Array.from(x0);
  let old: Float32Array | undefined;
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const denoised = await denoiseStep(denoiser, x, sigmas, i, options);
    const sigma = fr(sigmas[i]);
    const sigmaNext = fr(sigmas[i + 1]);
    if (sigmaNext === 0) {
      x.set(denoised);
      old = denoised;
      continue;
    }
    const t = fr(-Math.log(sigma));
    const tNext = fr(-Math.log(sigmaNext));
    const h = fr(tNext - t);
    const ratio = fr(fr(Math.exp(-tNext)) / fr(Math.exp(-t)));
    const em = fr(Math.expm1(-h));
    if (!old) {
      for (let k = 0; k < x.length; k++) x[k] = fr(ratio * x[k]) - fr(em * denoised[k]);
    } else {
      const hLast = fr(t - fr(-Math.log(fr(sigmas[i - 1]))));
      const r = fr(hLast / h);
      const c2 = fr(1 / fr(2 * r));
      const c1 = fr(1 + c2);
      for (let k = 0; k < x.length; k++) {
        const d = fr(fr(c1 * denoised[k]) - fr(c2 * old[k]));
        x[k] = fr(ratio * x[k]) - fr(em * d);
      }
    }
    old = denoised;
  }
  return x;
};
