import sharp from 'sharp';
import type { Tensor } from '../shared/types.js';
import { imageDims, imageToUint8 } from './tensor-image.js';

/**
 * Image resizing with the semantics of ComfyUI's `common_upscale`: torch `interpolate` modes
 * (align_corners=False, no antialiasing) computed directly, `lanczos` through an 8-bit round trip
 * (ComfyUI goes through PIL), and the optional center crop to the target aspect ratio first.
 */

export const UPSCALE_METHODS = ['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos'] as const;
export type UpscaleMethod = (typeof UPSCALE_METHODS)[number];
export const CROP_METHODS = ['disabled', 'center'] as const;
export type CropMethod = (typeof CROP_METHODS)[number];

/** One output index → source taps and weights along one axis. */
interface AxisPlan {
  index: Int32Array;
  weight: Float64Array;
  taps: number;
}

function planAxis(method: Exclude<UpscaleMethod, 'lanczos'>, inSize: number, outSize: number): AxisPlan {
  const scale = inSize / outSize;
  if (method === 'nearest-exact') {
    const index = new Int32Array(outSize);
    for (let o = 0; o < outSize; o++) index[o] = Math.min(Math.floor((o + 0.5) * scale), inSize - 1);
    return { index, weight: new Float64Array(outSize).fill(1), taps: 1 };
  }
  if (method === 'bilinear') {
    const index = new Int32Array(outSize * 2);
    const weight = new Float64Array(outSize * 2);
    for (let o = 0; o < outSize; o++) {
      const src = Math.max(scale * (o + 0.5) - 0.5, 0);
      const i0 = Math.min(Math.floor(src), inSize - 1);
      const i1 = Math.min(i0 + 1, inSize - 1);
      const l = src - i0;
      index[o * 2] = i0;
      index[o * 2 + 1] = i1;
      weight[o * 2] = 1 - l;
      weight[o * 2 + 1] = l;
    }
    return { index, weight, taps: 2 };
  }
  if (method === 'bicubic') {
    const A = -0.75;
    const cc1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
    const cc2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    const index = new Int32Array(outSize * 4);
    const weight = new Float64Array(outSize * 4);
    for (let o = 0; o < outSize; o++) {
      const src = scale * (o + 0.5) - 0.5;
      const i = Math.floor(src);
      const t = src - i;
      const w = [cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)];
      for (let k = 0; k < 4; k++) {
        index[o * 4 + k] = Math.min(Math.max(i - 1 + k, 0), inSize - 1);
        weight[o * 4 + k] = w[k];
      }
    }
    return { index, weight, taps: 4 };
  }
  // area = adaptive average pooling
  let taps = 1;
  for (let o = 0; o < outSize; o++) {
    const start = Math.floor((o * inSize) / outSize);
    const end = Math.ceil(((o + 1) * inSize) / outSize);
    taps = Math.max(taps, end - start);
  }
  const index = new Int32Array(outSize * taps);
  const weight = new Float64Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    const start = Math.floor((o * inSize) / outSize);
    const end = Math.ceil(((o + 1) * inSize) / outSize);
    for (let k = 0; k < taps; k++) {
      const inside = start + k < end;
      index[o * taps + k] = inside ? start + k : start;
      weight[o * taps + k] = inside ? 1 / (end - start) : 0;
    }
  }
  return { index, weight, taps };
}

/** Python's round(): halves go to the even neighbour (ComfyUI computes sizes with it). */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Center crop of [B,H,W,C] to the aspect ratio width:height (ComfyUI's rounding). */
export function cropCenter(t: Tensor, width: number, height: number): Tensor {
  const { batch, height: h, width: w, channels: c } = imageDims(t);
  const oldAspect = w / h;
  const newAspect = width / height;
  let x = 0;
  let y = 0;
  if (oldAspect > newAspect) x = pyRound((w - w * (newAspect / oldAspect)) / 2);
  else if (oldAspect < newAspect) y = pyRound((h - h * (oldAspect / newAspect)) / 2);
  if (x === 0 && y === 0) return t;
  const nh = h - 2 * y;
  const nw = w - 2 * x;
  const out = new Float32Array(batch * nh * nw * c);
  for (let b = 0; b < batch; b++)
    for (let r = 0; r < nh; r++) {
      const src = ((b * h + r + y) * w + x) * c;
      out.set(t.data.subarray(src, src + nw * c), (b * nh + r) * nw * c);
    }
  return { data: out, shape: [batch, nh, nw, c] };
}

function interpolate(
  t: Tensor,
  method: Exclude<UpscaleMethod, 'lanczos'>,
  width: number,
  height: number,
): Tensor {
  const { batch, height: h, width: w, channels: c } = imageDims(t);
  const px = planAxis(method, w, width);
  const py = planAxis(method, h, height);
  const tmp = new Float64Array(h * width * c);
  const out = new Float32Array(batch * height * width * c);
  for (let b = 0; b < batch; b++) {
    const base = b * h * w * c;
    for (let r = 0; r < h; r++)
      for (let o = 0; o < width; o++)
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let k = 0; k < px.taps; k++)
            s += px.weight[o * px.taps + k] * t.data[base + (r * w + px.index[o * px.taps + k]) * c + ch];
          tmp[(r * width + o) * c + ch] = s;
        }
    const obase = b * height * width * c;
    for (let o = 0; o < height; o++)
      for (let col = 0; col < width; col++)
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let k = 0; k < py.taps; k++)
            s += py.weight[o * py.taps + k] * tmp[(py.index[o * py.taps + k] * width + col) * c + ch];
          out[obase + (o * width + col) * c + ch] = s;
        }
  }
  return { data: out, shape: [batch, height, width, c] };
}

async function lanczos(t: Tensor, width: number, height: number): Promise<Tensor> {
  const { batch, channels: c } = imageDims(t);
  const out = new Float32Array(batch * height * width * c);
  for (let b = 0; b < batch; b++) {
    const { pixels, width: w, height: h } = imageToUint8(t, b);
    const data = await sharp(pixels, { raw: { width: w, height: h, channels: c as 1 | 2 | 3 | 4 } })
      .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
      .raw()
      .toBuffer();
    const o = b * height * width * c;
    for (let i = 0; i < data.length; i++) out[o + i] = data[i] / 255;
  }
  return { data: out, shape: [batch, height, width, c] };
}

/** ComfyUI ImageScale: width or height 0 keeps the aspect ratio; both 0 returns the input. */
export async function scaleImage(
  t: Tensor,
  method: UpscaleMethod,
  width: number,
  height: number,
  crop: CropMethod,
): Promise<Tensor> {
  if (width === 0 && height === 0) return t;
  const { height: h, width: w } = imageDims(t);
  if (width === 0) width = Math.max(1, pyRound((w * height) / h));
  else if (height === 0) height = Math.max(1, pyRound((h * width) / w));
  const src = crop === 'center' ? cropCenter(t, width, height) : t;
  if (method === 'lanczos') return lanczos(src, width, height);
  if (!UPSCALE_METHODS.includes(method)) throw new Error(`unknown upscale method '${method}'`);
  return interpolate(src, method, width, height);
}
