import sharp from 'sharp';
import type { Tensor } from '../shared/types.js';

/**
 * Conversions between IMAGE tensors (float32 [B,H,W,C] in 0..1) and encoded files, with ComfyUI's
 * rounding: float → uint8 is `clip(255·x, 0, 255)` then truncation (numpy `astype(uint8)`), and
 * uint8 → float is `x / 255`.
 */

export interface DecodedImage {
  /** [1,H,W,3] */
  image: Tensor;
  /** [1,H,W] = 1 − alpha, or ComfyUI's [1,64,64] zeros when the file has no alpha channel. */
  mask: Tensor;
}

export function imageDims(t: Tensor): { batch: number; height: number; width: number; channels: number } {
  if (t.shape.length !== 4) throw new Error(`IMAGE must be [B,H,W,C], got shape [${t.shape.join(',')}]`);
  const [batch, height, width, channels] = t.shape;
  return { batch, height, width, channels };
}

/** Decodes PNG/JPEG/WebP bytes (EXIF orientation applied) into IMAGE + MASK as ComfyUI's LoadImage does. */
export async function decodeImage(bytes: Uint8Array): Promise<DecodedImage> {
  const { data, info } = await sharp(bytes, { failOn: 'error' })
    .rotate()
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const meta = await sharp(bytes).metadata();
  const { width, height } = info;
  const n = width * height;
  const rgb = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    rgb[i * 3] = data[i * 4] / 255;
    rgb[i * 3 + 1] = data[i * 4 + 1] / 255;
    rgb[i * 3 + 2] = data[i * 4 + 2] / 255;
  }
  let mask: Tensor;
  if (meta.hasAlpha) {
    const m = new Float32Array(n);
    for (let i = 0; i < n; i++) m[i] = 1 - data[i * 4 + 3] / 255;
    mask = { data: m, shape: [1, height, width] };
  } else {
    mask = { data: new Float32Array(64 * 64), shape: [1, 64, 64] };
  }
  return { image: { data: rgb, shape: [1, height, width, 3] }, mask };
}

/** One image of a batch as interleaved uint8 (ComfyUI's truncating conversion). */
export function imageToUint8(
  t: Tensor,
  index: number,
): { pixels: Buffer; width: number; height: number; channels: number } {
  const { batch, height, width, channels } = imageDims(t);
  if (index < 0 || index >= batch) throw new Error(`image index ${index} out of range (batch ${batch})`);
  const size = height * width * channels;
  const pixels = Buffer.alloc(size);
  const src = t.data.subarray(index * size, (index + 1) * size);
  for (let i = 0; i < size; i++) {
    const v = src[i] * 255;
    pixels[i] = Math.min(255, Math.max(0, v)); // Buffer truncates; NaN stores 0
  }
  return { pixels, width, height, channels };
}

/** Encodes one image of a batch as PNG (zlib level as ComfyUI's compress_level). */
export async function encodePng(t: Tensor, index: number, compressionLevel = 4): Promise<Buffer> {
  const { pixels, width, height, channels } = imageToUint8(t, index);
  return sharp(pixels, { raw: { width, height, channels: channels as 1 | 2 | 3 | 4 } })
    .png({ compressionLevel })
    .toBuffer();
}
