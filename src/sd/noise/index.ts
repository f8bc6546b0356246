/**
 * Initial and ancestral noise exactly as ComfyUI draws it on CPU (SD1_SPEC §6, Addendum D.1).
 */
import { type RandnKernel, type Seed, seedToUint64, TorchGenerator } from './generator.js';

export { type RandnKernel, type Seed, seedToUint64, TorchGenerator } from './generator.js';
export { MT19937 } from './mt19937.js';

/**
 * ComfyUI `comfy.sample.prepare_noise`: `torch.manual_seed(seed)` then one float32
 * `torch.randn(shape)` for the whole batch [B, C, H, W]. With `batchIndices` (a latent's
 * `batch_index`, e.g. after "Latent From Batch"), one [1, C, H, W] draw per index up to the
 * largest, keeping those whose index is listed, in the listed order.
 */
export function prepareNoise(
  seed: Seed,
  shape: readonly number[],
  options: { kernel?: RandnKernel; batchIndices?: readonly number[] } = {},
): Float32Array {
  const kernel = options.kernel ?? 'scalar';
  const gen = new TorchGenerator(seed);
  const inds = options.batchIndices;
  if (!inds) return gen.randn(shape, kernel);
  if (inds.length !== shape[0]) {
    throw new RangeError(`batchIndices has ${inds.length} entries for a batch of ${shape[0]}`);
  }
  const per = shape.slice(1).reduce((a, b) => a * b, 1);
  const maxIndex = Math.max(...inds);
  const draws: Float32Array[] = [];
  for (let i = 0; i <= maxIndex; i++) draws.push(gen.randn([1, ...shape.slice(1)], kernel));
  const out = new Float32Array(per * inds.length);
  inds.forEach((ind, b) => {
    if (!Number.isInteger(ind) || ind < 0) throw new RangeError(`bad batch index ${ind}`);
    out.set(draws[ind], b * per);
  });
  return out;
}

/** Draws fresh noise for a sampler step (shape = the latent being sampled). */
export type NoiseSource = (out: Float32Array) => void;

/**
 * ComfyUI's default noise sampler for ancestral samplers (`k_diffusion.sampling.default_noise_sampler`)
 * when the latent is on the CPU: a second generator seeded with **seed + 1**, one
 * `torch.randn(x.shape)` per step. (Older ComfyUI used the same seed, so the first step's noise
 * repeated the initial noise; SD1_SPEC Addendum D.7 describes that older code. On a CUDA device
 * ComfyUI's generator is the GPU's Philox generator, which is not reproduced here.) A seed of
 * 2⁶⁴ − 1 wraps to 0 where ComfyUI would fail.
 */
export function comfyNoiseSource(seed: Seed, kernel: RandnKernel = 'scalar'): NoiseSource {
  const gen = new TorchGenerator(BigInt.asUintN(64, seedToUint64(seed) + 1n));
  return (out) => gen.randnInto(out, kernel);
}
