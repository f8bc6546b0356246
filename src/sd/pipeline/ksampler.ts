/**
 * ComfyUI's KSampler (SD1_SPEC Addendum D): seed → torch-compatible noise for the whole batch, the
 * sigma schedule for steps/denoise, noise scaling of the input latent, classifier-free guidance in one
 * batched UNet call per step, the sampler from the lookup table, and a per-step report (progress,
 * latent previews, interrupt checks). LATENT values are in VAE space: they are multiplied by the
 * latent scaling factor on the way in and divided on the way out, as ComfyUI's model does.
 */
import { comfyNoiseSource, prepareNoise, type Seed } from '../noise/index.js';
import { initialLatent, samplerByName } from '../samplers/index.js';
import { isSchedulerName, ksamplerSigmas, SCHEDULER_NAMES, sd1Schedule } from '../schedule.js';
import { type ContextEntry, type EpsModel, guidedDenoiser } from './cfg.js';

export interface KSamplerInput {
  eps: EpsModel;
  positive: ContextEntry[];
  negative: ContextEntry[];
  contextWidth: number;
  /** LATENT samples `[B, C, h, w]` in VAE space. */
  latent: Float32Array;
  latentShape: readonly number[];
  seed: Seed;
  steps: number;
  cfg: number;
  samplerName: string;
  scheduler: string;
  denoise: number;
  /** SD1: 0.18215. */
  scalingFactor: number;
  /** Called before every UNet call; throws to stop (interrupt). */
  checkInterrupt?: () => void;
  /** After each step's model call: 1-based step, total, and x̂₀ in model space `[B, C, h, w]`. */
  onStep?: (step: number, total: number, denoised: Float32Array) => void | Promise<void>;
}

/** Runs the KSampler and returns the result in VAE space (same shape as the input latent). */
export async function ksample(input: KSamplerInput): Promise<Float32Array> {
  const { latentShape, scalingFactor } = input;
  const sampler = samplerByName(input.samplerName);
  if (!isSchedulerName(input.scheduler)) {
    throw new Error(`unknown scheduler '${input.scheduler}'; expected one of ${SCHEDULER_NAMES.join(', ')}`);
  }
  const schedule = sd1Schedule();
  const sigmas = ksamplerSigmas(input.scheduler, input.steps, input.denoise, schedule);
  if (sigmas.length === 0) return Float32Array.from(input.latent); // denoise 0: nothing to do

  const [batch] = latentShape;
  const latentSize = latentShape.slice(1).reduce((a, b) => a * b, 1);
  const noise = prepareNoise(input.seed, latentShape);
  const modelLatent = new Float32Array(input.latent.length);
  for (let i = 0; i < modelLatent.length; i++) modelLatent[i] = input.latent[i] * scalingFactor;
  const x = initialLatent(noise, sigmas, schedule, modelLatent);

  const guided = guidedDenoiser({
    eps: input.eps,
    positive: input.positive,
    negative: input.negative,
    cfg: input.cfg,
    batch,
    latentSize,
    contextWidth: input.contextWidth,
    timestepOf: (sigma) => schedule.sigmaToTimestep(sigma),
  });
  const denoiser = async (v: Float32Array, sigma: number) => {
    input.checkInterrupt?.();
    return guided(v, sigma);
  };
  const out = await sampler.sample(denoiser, x, sigmas, {
    noise: sampler.stochastic ? comfyNoiseSource(input.seed) : undefined,
    onStep: input.onStep ? (info) => input.onStep!(info.step + 1, info.total, info.denoised) : undefined,
  });
  input.checkInterrupt?.();
  for (let i = 0; i < out.length; i++) out[i] = out[i] / scalingFactor;
  return out;
}
