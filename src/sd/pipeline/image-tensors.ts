/**
 * Conversions between ComfyUI's IMAGE layout ([B, H, W, C] in 0..1) and the VAE's pixel layout
 * ([B, 3, H, W] in −1..1).
 */
import type { Tensor } from '../../shared/types.js';

/** IMAGE → VAE input. Extra channels (alpha) are dropped; H and W are cropped to multiples of 8, centred like ComfyUI. */
export function imageToVaePixels(image: Tensor): Tensor {
  const [b, h, w, c] = image.shape;
  if (image.shape.length !== 4 || c < 3)
    throw new Error(`IMAGE must be [B, H, W, 3], got [${image.shape.join(', ')}]`);
  const h8 = Math.floor(h / 8) * 8;
  const w8 = Math.floor(w / 8) * 8;
  if (h8 === 0 || w8 === 0) throw new Error(`image of ${w}×${h} is smaller than one 8×8 latent cell`);
  const y0 = Math.floor((h % 8) / 2);
  const x0 = Math.floor((w % 8) / 2);
  const out = new Float32Array(b * 3 * h8 * w8);
  for (let n = 0; n < b; n++) {
    for (let ch = 0; ch < 3; ch++) {
      const plane = (n * 3 + ch) * h8 * w8;
      for (let y = 0; y < h8; y++) {
        const row = ((n * h + y + y0) * w + x0) * c + ch;
        for (let x = 0; x < w8; x++) out[plane + y * w8 + x] = image.data[row + x * c] * 2 - 1;
      }
    }
  }
  return { data: out, shape: [b, 3, h8, w8] };
}

/** VAE output → IMAGE: clamp((y + 1)/2, 0, 1), NCHW → NHWC. */
export function vaePixelsToImage(pixels: Tensor): Tensor {
  const [b, c, h, w] = pixels.shape;
  const out = new Float32Array(b * h * w * c);
  for (let n = 0; n < b; n++) {
    for (let ch = 0; ch < c; ch++) {
      const plane = (n * c + ch) * h * w;
      for (let i = 0; i < h * w; i++) {
        const v = (pixels.data[plane + i] + 1) / 2;
        out[(n * h * w + i) * c + ch] = Math.min(Math.max(v, 0), 1);
      }
    }
  }
  return { data: out, shape: [b, h, w, c] };
}
