import { describe, expect, it } from 'vitest';
import { imageToVaePixels, vaePixelsToImage } from '../../../src/sd/pipeline/image-tensors.js';

describe('image tensors', () => {
  it('maps IMAGE [B,H,W,3] in 0..1 to VAE pixels [B,3,H,W] in −1..1 and back', () => {
    const data = new Float32Array(8 * 8 * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i % 7) / 6;
    const pixels = imageToVaePixels({ data, shape: [1, 8, 8, 3] });
    expect(pixels.shape).toEqual([1, 3, 8, 8]);
    expect(pixels.data[0]).toBeCloseTo(data[0] * 2 - 1, 6);
    expect(pixels.data[64]).toBeCloseTo(data[1] * 2 - 1, 6); // green plane, pixel 0
    const back = vaePixelsToImage(pixels);
    expect(back.shape).toEqual([1, 8, 8, 3]);
    for (let i = 0; i < data.length; i++) expect(back.data[i]).toBeCloseTo(data[i], 6);
  });

  it('crops to multiples of 8 around the centre and drops alpha', () => {
    const pixels = imageToVaePixels({ data: new Float32Array(10 * 9 * 4).fill(1), shape: [1, 10, 9, 4] });
    expect(pixels.shape).toEqual([1, 3, 8, 8]);
    expect(pixels.data.every((v) => v === 1)).toBe(true);
  });

  it('clamps decoded values to 0..1', () => {
    const image = vaePixelsToImage({ data: new Float32Array([-3, 3, 0]), shape: [1, 3, 1, 1] });
    expect([...image.data]).toEqual([0, 1, 0.5]);
  });

  it('refuses images smaller than one latent cell', () => {
    expect(() => imageToVaePixels({ data: new Float32Array(4 * 4 * 3), shape: [1, 4, 4, 3] })).toThrow(
      /smaller/,
    );
  });
});
