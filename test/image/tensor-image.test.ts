import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage, encodePng, imageToUint8 } from '../../src/image/tensor-image.js';

describe('IMAGE tensors ↔ files', () => {
  it('decodes RGBA into IMAGE [1,H,W,3] and MASK = 1 − alpha', async () => {
    const px = Buffer.from([255, 0, 0, 0, 0, 255, 0, 255, 0, 0, 255, 51]);
    const png = await sharp(px, { raw: { width: 3, height: 1, channels: 4 } })
      .png()
      .toBuffer();
    const { image, mask } = await decodeImage(png);
    expect(image.shape).toEqual([1, 1, 3, 3]);
    expect(Array.from(image.data)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(mask.shape).toEqual([1, 1, 3]);
    expect(mask.data[0]).toBe(1);
    expect(mask.data[1]).toBe(0);
    expect(mask.data[2]).toBeCloseTo(0.8, 6);
  });

  it('gives the 64×64 zero mask ComfyUI gives for images without alpha (JPEG)', async () => {
    const jpeg = await sharp({ create: { width: 5, height: 4, channels: 3, background: '#808080' } })
      .jpeg()
      .toBuffer();
    const { image, mask } = await decodeImage(jpeg);
    expect(image.shape).toEqual([1, 4, 5, 3]);
    expect(mask.shape).toEqual([1, 64, 64]);
    expect(mask.data.every((v) => v === 0)).toBe(true);
  });

  it('decodes lossless WebP with alpha exactly like PNG (LoadImage accepts PNG, JPEG and WebP)', async () => {
    const px = Buffer.from([255, 0, 0, 0, 0, 255, 0, 255, 0, 0, 255, 51]);
    const webp = await sharp(px, { raw: { width: 3, height: 1, channels: 4 } })
      .webp({ lossless: true, exact: true })
      .toBuffer();
    expect(webp.subarray(8, 12).toString('ascii')).toBe('WEBP');
    const { image, mask } = await decodeImage(webp);
    expect(image.shape).toEqual([1, 1, 3, 3]);
    expect(Array.from(image.data)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(Array.from(mask.data, (v) => Math.round(v * 255))).toEqual([255, 0, 204]);
  });

  it('converts to uint8 by clipping and truncating, and encodes a decodable PNG', async () => {
    const t = { data: Float32Array.from([0.999, 1.2, -0.1, 0.5, 0.0039, 1]), shape: [2, 1, 1, 3] };
    expect(Array.from(imageToUint8(t, 0).pixels)).toEqual([254, 255, 0]);
    expect(Array.from(imageToUint8(t, 1).pixels)).toEqual([127, 0, 255]);
    const png = await encodePng(t, 1);
    expect(Array.from(await sharp(png).raw().toBuffer())).toEqual([127, 0, 255]);
    expect(() => imageToUint8(t, 2)).toThrow(/out of range/);
  });
});
