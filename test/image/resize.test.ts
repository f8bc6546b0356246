import { describe, expect, it } from 'vitest';
import { cropCenter, pyRound, scaleImage } from '../../src/image/resize.js';
import type { Tensor } from '../../src/shared/types.js';

/** A 1-channel-looking image: C=1, H rows of the given values. */
const row = (values: number[], height = 1): Tensor => ({
  data: Float32Array.from(Array.from({ length: height }, () => values).flat()),
  shape: [1, height, values.length, 1],
});
const close = (t: Tensor, expected: number[]) => {
  expect(t.data.length).toBe(expected.length);
  t.data.forEach((v, i) => {
    expect(v).toBeCloseTo(expected[i], 5);
  });
};

describe('scaleImage (torch interpolate semantics, align_corners=False)', () => {
  it('nearest-exact', async () => {
    close(await scaleImage(row([1, 2]), 'nearest-exact', 4, 1, 'disabled'), [1, 1, 2, 2]);
    close(await scaleImage(row([1, 2, 3, 4]), 'nearest-exact', 2, 1, 'disabled'), [2, 4]);
  });

  it('bilinear clamps the source index at the border', async () => {
    close(await scaleImage(row([0, 1]), 'bilinear', 4, 1, 'disabled'), [0, 0.25, 0.75, 1]);
  });

  it('bicubic uses A = -0.75 with clamped taps (overshoots at edges like torch)', async () => {
    close(
      await scaleImage(row([0, 1]), 'bicubic', 4, 1, 'disabled'),
      [-0.10546875, 0.2265625, 0.7734375, 1.10546875],
    );
  });

  it('area is adaptive average pooling', async () => {
    close(await scaleImage(row([1, 2, 3, 4]), 'area', 2, 1, 'disabled'), [1.5, 3.5]);
    close(await scaleImage(row([0, 3, 6]), 'area', 2, 1, 'disabled'), [1.5, 4.5]);
  });

  it('scales both axes and keeps batches apart', async () => {
    const t: Tensor = { data: Float32Array.from([0, 1, 0, 1, 5, 5, 5, 5]), shape: [2, 2, 2, 1] };
    const out = await scaleImage(t, 'bilinear', 4, 4, 'disabled');
    expect(out.shape).toEqual([2, 4, 4, 1]);
    close({ data: out.data.subarray(0, 4), shape: [4] }, [0, 0.25, 0.75, 1]);
    expect(Array.from(out.data.subarray(16))).toEqual(new Array(16).fill(5));
  });

  it('lanczos goes through 8 bits and keeps a flat image flat', async () => {
    const t: Tensor = { data: new Float32Array(8 * 6 * 3).fill(0.5), shape: [1, 6, 8, 3] };
    const out = await scaleImage(t, 'lanczos', 16, 12, 'disabled');
    expect(out.shape).toEqual([1, 12, 16, 3]);
    for (const v of out.data) expect(v).toBeCloseTo(127 / 255, 5);
  });

  it('0 keeps the aspect ratio; 0 × 0 returns the input', async () => {
    const t = row([1, 2, 3, 4], 2);
    expect((await scaleImage(t, 'area', 0, 1, 'disabled')).shape).toEqual([1, 1, 2, 1]);
    expect((await scaleImage(t, 'area', 8, 0, 'disabled')).shape).toEqual([1, 4, 8, 1]);
    expect(await scaleImage(t, 'area', 0, 0, 'disabled')).toBe(t);
  });

  it('center crop cuts to the target aspect before scaling', async () => {
    const t = row([0, 1, 2, 3, 4, 5], 4); // 6 × 4
    const cropped = cropCenter(t, 1, 1);
    expect(cropped.shape).toEqual([1, 4, 4, 1]);
    expect(Array.from(cropped.data.subarray(0, 4))).toEqual([1, 2, 3, 4]);
    const out = await scaleImage(t, 'nearest-exact', 2, 2, 'center');
    expect(Array.from(out.data)).toEqual([2, 4, 2, 4]);
  });

  it('pyRound rounds halves to even like Python', () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4, 2.6].map(pyRound)).toEqual([0, 2, 2, 4, 2, 3]);
  });
});
