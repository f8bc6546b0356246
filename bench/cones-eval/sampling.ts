/**
 * Drawing and probing through the runtime worker tasks, with any MODEL value (the base checkpoint or
 * one with concept masks applied, as Apply Concept Mask makes it): CLIPTextEncode → KSampler → VAEDecode
 * for images, and the subject loss on fixed latents through KSampler itself (see `probeLoss`).
 */
import type { RuntimeClient } from '../../src/runtime/task-map.js';
import { SD1_VAE_SCALING_FACTOR } from '../../src/sd/graphs/vae.js';
import { SD_TASKS } from '../../src/sd/pipeline/protocol.js';
import type { CheckpointHandle, Conditioning, SdModel } from '../../src/sd/pipeline/values.js';
import { ksamplerSigmas } from '../../src/sd/schedule.js';
import type { Tensor } from '../../src/shared/types.js';
import { imageBytes, type SamplingSettings } from '../toy-eval/pipeline.js';

export class ConesSampler {
  private readonly conditionings = new Map<string, Conditioning>();
  constructor(
    private readonly runtime: RuntimeClient,
    readonly checkpoint: CheckpointHandle,
    private readonly settings: SamplingSettings,
  ) {}

  async encode(text: string): Promise<Conditioning> {
    let c = this.conditionings.get(text);
    if (!c) {
      const { embedding } = await this.runtime.call(SD_TASKS.encodeText, {
        clip: { kind: 'sd1.clip', checkpoint: this.checkpoint },
        text,
      });
      c = [{ embedding, text }];
      this.conditionings.set(text, c);
    }
    return c;
  }

  /** One 64-px image per (prompt, seed) pair, each as KSampler with that seed on a one-image latent. */
  async generate(model: SdModel, jobs: readonly { prompt: string; seed: number }[]): Promise<Uint8Array[]> {
    const negative = await this.encode('');
    const shape = [1, 4, 8, 8];
    const per = 4 * 8 * 8;
    const latents = new Float32Array(jobs.length * per);
    for (const [n, job] of jobs.entries()) {
      const { samples } = await this.runtime.call(SD_TASKS.sample, {
        model,
        positive: await this.encode(job.prompt),
        negative,
        latent: { data: new Float32Array(per), shape },
        seed: job.seed,
        ...this.settings,
        denoise: 1,
        previews: false,
      });
      latents.set(samples.data, n * per);
    }
    const images: Uint8Array[] = [];
    for (let i = 0; i < jobs.length; i += 32) {
      const count = Math.min(32, jobs.length - i);
      const { image } = await this.runtime.call(SD_TASKS.vaeDecode, {
        vae: { kind: 'sd1.vae', checkpoint: this.checkpoint },
        samples: { data: latents.slice(i * per, (i + count) * per), shape: [count, 4, 8, 8] },
      });
      images.push(...imageBytes(image));
    }
    return images;
  }

  /**
   * The denoising loss E‖ε̂ − ε‖² of `model` on fixed model-space latents (as extraction keeps them)
   * under `prompt`, at fixed noise levels and noise seeds, through KSampler: one Euler step with
   * denoise 1/(k + ½) starts at σ = the last non-zero σ of a k-step 'normal' schedule, adds σ·ε (ε from
   * the seed) and lands exactly on x̂₀ = x − σ·ε̂ (cfg 1: conditional only), so ε̂ − ε = (x₀ − x̂₀)/σ.
   * The same (latents, levels, seeds) for every model: differences between models are paired.
   */
  async probeLoss(
    model: SdModel,
    latents: Tensor,
    prompt: string,
    levels: readonly number[],
    seeds: readonly number[],
  ): Promise<number> {
    const positive = await this.encode(prompt);
    const vaeSpace = Float32Array.from(latents.data, (v) => v / SD1_VAE_SCALING_FACTOR);
    let sum = 0;
    let count = 0;
    for (const k of levels) {
      const denoise = 1 / (k + 0.5);
      const sigmas = ksamplerSigmas('normal', 1, denoise);
      if (sigmas.length !== 2 || sigmas[1] !== 0)
        throw new Error(`probe level ${k}: unexpected σ list ${sigmas}`);
      const sigma = sigmas[0];
      for (const seed of seeds) {
        const { samples } = await this.runtime.call(SD_TASKS.sample, {
          model,
          positive,
          negative: positive,
          latent: { data: vaeSpace, shape: latents.shape },
          seed,
          steps: 1,
          cfg: 1,
          samplerName: 'euler',
          scheduler: 'normal',
          denoise,
          previews: false,
        });
        for (let i = 0; i < vaeSpace.length; i++) {
          const d = ((vaeSpace[i] - samples.data[i]) * SD1_VAE_SCALING_FACTOR) / sigma;
          sum += d * d;
        }
        count += vaeSpace.length;
      }
    }
    return sum / count;
  }
}
