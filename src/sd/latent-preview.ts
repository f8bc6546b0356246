/**
 * Cheap step previews: SD1 latents → RGB by a fixed linear map (ComfyUI's "latent2rgb" preview),
 * encoded as a small JPEG for the binary preview frames.
 */
import sharp from 'sharp';

/**
 * Row c = latent channel c's contribution to (R, G, B). Source: ComfyUI `comfy/latent_formats.py`,
 * class `SD15.latent_rgb_factors` (no bias for SD1). Applies to model-space latents (VAE latent ×
 * 0.18215), i.e. the x̂₀ a sampler reports per step.
 */
export const SD1_LATENT_RGB_FACTORS: readonly (readonly [number, number, number])[] = [
  [0.3512, 0.2297, 0.3227],
  [0.325, 0.4974, 0.235],
  [-0.2829, 0.1762, 0.2721],
  [-0.212, -0.2616, -0.7177],
];

export interface RgbImage {
  /** interleaved RGB, row-major, width·height·3 bytes */
  data: Uint8Array;
  width: number;
  height: number;
}

const fr = Math.fround;

/**
 * One batch item of a [B, 4, h, w] latent to RGB: rgb = Σ_c latent_c·factor[c], then
 * ((v + 1)/2) clamped to [0, 1] times 255, truncated to uint8 (ComfyUI `preview_to_image`).
 */
export function latentToRgb(latent: Float32Array, height: number, width: number, batchIndex = 0): RgbImage {
  const plane = height * width;
  const channels = SD1_LATENT_RGB_FACTORS.length;
  if (!Number.isInteger(plane) || plane <= 0) throw new RangeError(`bad latent size ${height}×${width}`);
  const items = latent.length / (channels * plane);
  if (!Number.isInteger(items) || batchIndex < 0 || batchIndex >= items) {
    throw new RangeError(
      `latent of ${latent.length} values is not [B, ${channels}, ${height}, ${width}] with item ${batchIndex}`,
    );
  }
  const base = batchIndex * channels * plane;
  const f = SD1_LATENT_RGB_FACTORS.map((row) => row.map(fr));
  const data = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    const l0 = latent[base + p];
    const l1 = latent[base + plane + p];
    const l2 = latent[base + 2 * plane + p];
    const l3 = latent[base + 3 * plane + p];
    for (let k = 0; k < 3; k++) {
      const v = fr(fr(fr(fr(l0 * f[0][k]) + fr(l1 * f[1][k])) + fr(l2 * f[2][k])) + fr(l3 * f[3][k]));
      const u = fr(fr(v + 1) / 2);
      const clamped = Number.isNaN(u) ? 0 : Math.min(Math.max(u, 0), 1);
      data[p * 3 + k] = Math.trunc(fr(clamped * 255));
    }
  }
  return { data, width, height };
}

export interface PreviewJpegOptions {
  /** longest side of the JPEG; the image is scaled (up or down) to fit, as ComfyUI's
   * `--preview-size` (default 512). `null` keeps the latent resolution. */
  maxSize?: number | null;
  /** JPEG quality 1–100 (ComfyUI: 95) */
  quality?: number;
  batchIndex?: number;
}

/** latent2rgb preview of one batch item as JPEG bytes (payload of binary preview event 1). */
export async function latentPreviewJpeg(
  latent: Float32Array,
  height: number,
  width: number,
  options: PreviewJpegOptions = {},
): Promise<Buffer> {
  const rgb = latentToRgb(latent, height, width, options.batchIndex ?? 0);
  let img = sharp(rgb.data, { raw: { width, height, channels: 3 } });
  const maxSize = options.maxSize === undefined ? 512 : options.maxSize;
  if (maxSize !== null) {
    if (!Number.isInteger(maxSize) || maxSize < 1) throw new RangeError(`bad preview maxSize ${maxSize}`);
    img = img.resize({ width: maxSize, height: maxSize, fit: 'inside', kernel: 'linear' });
  }
  return img.jpeg({ quality: options.quality ?? 95 }).toBuffer();
}
