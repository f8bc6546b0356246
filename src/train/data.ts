/**
 * Training batches from the procedural toy world (src/toy): scene, caption and pixels for each
 * sample are a pure function of (seed, step, index), so any step's batch can be rebuilt on resume.
 */
import { randomCaption } from '../toy/caption.js';
import { createRng } from '../toy/random.js';
import { renderScene } from '../toy/render.js';
import { type SceneSamplerOptions, sampleScene, TRAINING_STAGES } from '../toy/scene.js';
import { streamSeed } from './random.js';

export type ToyWorld = keyof typeof TRAINING_STAGES;
export const TOY_WORLDS = Object.keys(TRAINING_STAGES) as ToyWorld[];

/** Stream ids: separate streams for the data and each kind of noise, so they never correlate. */
export const STREAM = {
  data: 1,
  vaeNoise: 2,
  latentNoise: 3,
  diffusionNoise: 4,
  timesteps: 5,
  crops: 6,
  offsetNoise: 7,
} as const;

export interface ImageBatch {
  /** [B, 3, S, S] in −1..1 (channel-first, as the VAE takes it). */
  images: Float32Array;
  captions: string[];
}

/**
 * A random `crop`×`crop` window of each image of a batch, its corner a multiple of `align` (the VAE's
 * downsampling, so the latent grid stays anchored as in whole frames), drawn from `seed`.
 */
export function cropBatch(
  images: Float32Array,
  size: number,
  crop: number,
  align: number,
  seed: number,
): Float32Array {
  const plane = size * size;
  const batch = images.length / (3 * plane);
  const out = new Float32Array(batch * 3 * crop * crop);
  const positions = (size - crop) / align + 1;
  for (let i = 0; i < batch; i++) {
    const rng = createRng(streamSeed(seed, i));
    const x0 = align * rng.int(positions);
    const y0 = align * rng.int(positions);
    for (let c = 0; c < 3; c++) {
      const from = (i * 3 + c) * plane;
      const to = (i * 3 + c) * crop * crop;
      for (let y = 0; y < crop; y++) {
        const row = from + (y0 + y) * size + x0;
        out.set(images.subarray(row, row + crop), to + y * crop);
      }
    }
  }
  return out;
}

export function toyBatch(
  seed: number,
  step: number,
  batch: number,
  size: number,
  world: ToyWorld,
): ImageBatch {
  const options: SceneSamplerOptions = TRAINING_STAGES[world];
  const plane = size * size;
  const images = new Float32Array(batch * 3 * plane);
  const captions: string[] = [];
  for (let i = 0; i < batch; i++) {
    const rng = createRng(streamSeed(seed, STREAM.data, step, i));
    const scene = sampleScene(rng, options);
    captions.push(randomCaption(scene, rng));
    const rgb = renderScene(scene, size);
    const base = i * 3 * plane;
    for (let p = 0; p < plane; p++)
      for (let c = 0; c < 3; c++) images[base + c * plane + p] = rgb[p * 3 + c] / 127.5 - 1;
  }
  return { images, captions };
}
