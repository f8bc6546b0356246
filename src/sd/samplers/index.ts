/**
 * k-diffusion-style samplers over a denoiser (x, σ) → x̂₀, with ComfyUI's sampler names as one
 * lookup table. See README.md in this folder for how the SD1 pipeline wires them.
 */
import { sampleDpmpp2m } from './dpmpp-2m.js';
import { sampleDpmpp2sAncestral } from './dpmpp-2s-ancestral.js';
import { sampleEuler } from './euler.js';
import { sampleEulerAncestral } from './euler-ancestral.js';
import { sampleHeun } from './heun.js';
import type { Sampler } from './types.js';

export { sampleDpmpp2m } from './dpmpp-2m.js';
export { sampleDpmpp2sAncestral } from './dpmpp-2s-ancestral.js';
export { sampleEuler } from './euler.js';
export { ancestralStep, sampleEulerAncestral } from './euler-ancestral.js';
export { sampleHeun } from './heun.js';
export {
  cfgCombine,
  type EpsModel,
  epsDenoiser,
  epsToDenoised,
  initialLatent,
  isMaxDenoise,
  scaleModelInput,
} from './model.js';
export type { Denoiser, Sampler, SamplerOptions, StepInfo } from './types.js';

export interface SamplerEntry {
  sample: Sampler;
  /** draws fresh noise each step: pass `options.noise` (ComfyUI: `comfyNoiseSource(seed)`) */
  stochastic: boolean;
}

/** ComfyUI's KSampler `sampler_name` values we implement. `ddim` is Euler in ComfyUI. */
export const SAMPLERS = {
  euler: { sample: sampleEuler, stochastic: false },
  euler_ancestral: { sample: sampleEulerAncestral, stochastic: true },
  heun: { sample: sampleHeun, stochastic: false },
  dpmpp_2s_ancestral: { sample: sampleDpmpp2sAncestral, stochastic: true },
  dpmpp_2m: { sample: sampleDpmpp2m, stochastic: false },
  ddim: { sample: sampleEuler, stochastic: false },
} satisfies Record<string, SamplerEntry>;

export type SamplerName = keyof typeof SAMPLERS;
export const SAMPLER_NAMES = Object.keys(SAMPLERS) as SamplerName[];

export function isSamplerName(name: string): name is SamplerName {
  return Object.hasOwn(SAMPLERS, name);
}

export function samplerByName(name: string): SamplerEntry {
  if (!isSamplerName(name)) {
    throw new RangeError(`unknown sampler "${name}"; expected one of ${SAMPLER_NAMES.join(', ')}`);
  }
  return SAMPLERS[name];
}
