import type { Rng } from '../../src/toy/random.js';

/** Stand-ins for the flaws of generated images, to check that the reader tolerates them. */

export function addGaussianNoise(rgb: Uint8Array, sigma: number, rng: Rng): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) {
    // Box–Muller; 1 − next() keeps the logarithm finite.
    const normal = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    out[i] = Math.min(255, Math.max(0, Math.round(rgb[i] + sigma * normal)));
  }
  return out;
}

/** Separable Gaussian blur, edges clamped. */
export function gaussianBlur(rgb: Uint8Array, size: number, sigma: number): Uint8Array {
  const radius = Math.ceil(3 * sigma);
  const kernel = Array.from({ length: 2 * radius + 1 }, (_, k) =>
    Math.exp(-((k - radius) ** 2) / (2 * sigma ** 2)),
  );
  const total = kernel.reduce((a, b) => a + b, 0);
  const weights = kernel.map((w) => w / total);
  const pass = (src: Float64Array, horizontal: boolean): Float64Array => {
    const dst = new Float64Array(src.length);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let ch = 0; ch < 3; ch++) {
          let sum = 0;
          for (let k = -radius; k <= radius; k++) {
            const sx = horizontal ? Math.min(size - 1, Math.max(0, x + k)) : x;
            const sy = horizontal ? y : Math.min(size - 1, Math.max(0, y + k));
            sum += weights[k + radius] * src[(sy * size + sx) * 3 + ch];
          }
          dst[(y * size + x) * 3 + ch] = sum;
        }
      }
    }
    return dst;
  };
  const blurred = pass(pass(Float64Array.from(rgb), true), false);
  return Uint8Array.from(blurred, (v) => Math.round(v));
}
