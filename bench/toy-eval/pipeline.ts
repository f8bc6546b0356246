/**
 * The toy eval's way into a checkpoint: the same runtime worker tasks, in the same order and with the
 * same payloads, as the nodes CheckpointLoaderSimple → CLIPTextEncode → EmptyLatentImage → KSampler →
 * VAEDecode (and LoadImage → VAEEncode → VAEDecode for reconstructions), through the typed task contract.
 */
import { imageToUint8 } from '../../src/image/tensor-image.js';
import type { RuntimeClient } from '../../src/runtime/task-map.js';
import { SD_TASKS } from '../../src/sd/pipeline/protocol.js';
import {
  type CheckpointHandle,
  type Conditioning,
  modelFromCheckpoint,
  type SdClip,
  type SdVae,
} from '../../src/sd/pipeline/values.js';
import type { Tensor } from '../../src/shared/types.js';

export interface SamplingSettings {
  steps: number;
  cfg: number;
  samplerName: string;
  scheduler: string;
}

/** RGB bytes (HWC) of each image of an IMAGE batch, converted as SaveImage converts them (truncating). */
export function imageBytes(image: Tensor): Uint8Array[] {
  return Array.from({ length: image.shape[0] }, (_, i) => new Uint8Array(imageToUint8(image, i).pixels));
}

/** RGB bytes (HWC, size × size each) as an IMAGE batch, as LoadImage makes one (bytes / 255). */
export function imageBatch(images: readonly Uint8Array[], size: number): Tensor {
  const per = size * size * 3;
  const data = new Float32Array(images.length * per);
  images.forEach((rgb, n) => {
    if (rgb.length !== per) throw new RangeError(`image ${n} has ${rgb.length} bytes, not ${size}²×3`);
    for (let i = 0; i < per; i++) data[n * per + i] = rgb[i] / 255;
  });
  return { data, shape: [images.length, size, size, 3] };
}

export class ToyPipeline {
  private readonly clip: SdClip;
  private readonly vae: SdVae;
  private negative: Conditioning | undefined;

  private constructor(
    private readonly runtime: RuntimeClient,
    readonly handle: CheckpointHandle,
  ) {
    this.clip = { kind: 'sd1.clip', checkpoint: handle };
    this.vae = { kind: 'sd1.vae', checkpoint: handle };
  }

  /** CheckpointLoaderSimple. */
  static async load(runtime: RuntimeClient, path: string, graphCacheDir?: string): Promise<ToyPipeline> {
    const handle = await runtime.call(SD_TASKS.loadCheckpoint, {
      path,
      ...(graphCacheDir ? { graphCacheDir } : {}),
    });
    return new ToyPipeline(runtime, handle);
  }

  /** CLIPTextEncode. */
  async encode(text: string): Promise<Conditioning> {
    const { embedding } = await this.runtime.call(SD_TASKS.encodeText, { clip: this.clip, text });
    return [{ embedding, text }];
  }

  /** VAEEncode then VAEDecode of RGB images (size × size), back as RGB bytes. */
  async reconstruct(images: readonly Uint8Array[], size: number): Promise<Uint8Array[]> {
    const { samples } = await this.runtime.call(SD_TASKS.vaeEncode, {
      vae: this.vae,
      image: imageBatch(images, size),
    });
    const { image } = await this.runtime.call(SD_TASKS.vaeDecode, { vae: this.vae, samples });
    return imageBytes(image);
  }

  /**
   * One image per seed (batch 1 each, as KSampler with that seed on a one-image EmptyLatentImage), the
   * negative prompt empty, all decoded in one VAEDecode batch.
   */
  async generate(
    prompt: string,
    seeds: readonly number[],
    size: number,
    settings: SamplingSettings,
  ): Promise<Uint8Array[]> {
    const positive = await this.encode(prompt);
    this.negative ??= await this.encode('');
    const latentShape = [1, 4, size / 8, size / 8];
    const per = 4 * (size / 8) ** 2;
    const latents = new Float32Array(seeds.length * per);
    for (const [n, seed] of seeds.entries()) {
      const { samples } = await this.runtime.call(SD_TASKS.sample, {
        model: modelFromCheckpoint(this.handle),
        positive,
        negative: this.negative,
        latent: { data: new Float32Array(per), shape: latentShape },
        seed,
        ...settings,
        denoise: 1,
        previews: false,
      });
      latents.set(samples.data, n * per);
    }
    const { image } = await this.runtime.call(SD_TASKS.vaeDecode, {
      vae: this.vae,
      samples: { data: latents, shape: [seeds.length, ...latentShape.slice(1)] },
    });
    return imageBytes(image);
  }
}
