import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { latentPreviewJpeg, latentToRgb, SD1_LATENT_RGB_FACTORS } from '../../src/sd/latent-preview.js';

/** A [1, 4, h, w] latent whose every pixel is the given 4-vector. */
const constant = (v: number[], h: number, w: number) => {
  const out = new Float32Array(4 * h * w);
  for (let c = 0; c < 4; c++) out.fill(v[c], c * h * w, (c + 1) * h * w);
  return out;
};

describe('latent → RGB with ComfyUI SD1.5 latent2rgb factors', () => {
  it('a zero latent is mid-grey 127 (255·0.5 truncated)', () => {
    const { data, width, height } = latentToRgb(new Float32Array(4 * 2 * 3), 2, 3);
    expect([width, height, data.length]).toEqual([3, 2, 18]);
    expect(new Set(data)).toEqual(new Set([127]));
  });
  it('each channel contributes its factor row: rgb = ((Σ l_c·F[c]) + 1)/2·255', () => {
    const l = [0.5, -0.25, 1, 0.3];
    const { data } = latentToRgb(constant(l, 1, 1), 1, 1);
    for (let k = 0; k < 3; k++) {
      const v = l.reduce((s, lc, c) => s + lc * SD1_LATENT_RGB_FACTORS[c][k], 0);
      expect(data[k]).toBe(Math.trunc(Math.min(Math.max((v + 1) / 2, 0), 1) * 255));
    }
  });
  it('clamps out-of-range values to 0 and 255', () => {
    expect(Array.from(latentToRgb(constant([10, 10, 0, 0], 1, 1), 1, 1).data)).toEqual([255, 255, 255]);
    expect(Array.from(latentToRgb(constant([-10, -10, 0, 0], 1, 1), 1, 1).data)).toEqual([0, 0, 0]);
  });
  it('reads the requested batch item and pixel order is row-major', () => {
    const h = 2;
    const w = 2;
    const batch = new Float32Array(2 * 4 * h * w);
    batch.set(constant([3, 3, 3, 3], h, w), 4 * h * w); // item 1 differs from item 0
    batch[4 * h * w + 1] = -3; // item 1, channel 0, pixel (0, 1)
    const item1 = latentToRgb(batch, h, w, 1);
    expect(latentToRgb(batch, h, w, 0).data[0]).toBe(127);
    expect(item1.data[3]).not.toBe(item1.data[0]);
    expect(item1.data[6]).toBe(item1.data[0]);
  });
  it('refuses latents that are not [B, 4, h, w]', () => {
    expect(() => latentToRgb(new Float32Array(10), 2, 2)).toThrow(RangeError);
    expect(() => latentToRgb(new Float32Array(16), 2, 2, 1)).toThrow(/item 1/);
  });
});

describe('preview JPEG', () => {
  it('is a real JPEG scaled to fit 512 px by default, keeping the aspect ratio', async () => {
    const h = 8;
    const w = 16;
    const lat = new Float32Array(4 * h * w).map((_, i) => Math.sin(i / 7));
    const jpeg = await latentPreviewJpeg(lat, h, w);
    expect(jpeg.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    const meta = await sharp(jpeg).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 512, 256]);
  });
  it('keeps the latent resolution with maxSize null and reproduces the colours', async () => {
    const jpeg = await latentPreviewJpeg(constant([0.5, 0.5, 0, 0], 8, 8), 8, 8, {
      maxSize: null,
      quality: 100,
    });
    const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([8, 8]);
    const want = latentToRgb(constant([0.5, 0.5, 0, 0], 1, 1), 1, 1).data;
    for (let k = 0; k < 3; k++) expect(Math.abs(data[k] - want[k])).toBeLessThanOrEqual(3);
  });
});
