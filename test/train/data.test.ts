import { describe, expect, it } from 'vitest';
import { cropBatch, STREAM, toyBatch } from '../../src/train/data.js';
import { gaussians, streamSeed } from '../../src/train/random.js';
import { defaultRecipe } from '../../src/train/recipe.js';
import { diffusionNoise, vaeTrainingSize } from '../../src/train/stages.js';

describe('toy training batches', () => {
  it('crops each image to an aligned window of itself, the same windows for the same seed', () => {
    const size = 64;
    const whole = toyBatch(3, 7, 4, size, 'full').images;
    const crop = cropBatch(whole, size, 32, 8, 11);
    expect(crop.length).toBe(4 * 3 * 32 * 32);
    expect(cropBatch(whole, size, 32, 8, 11)).toEqual(crop);
    for (let i = 0; i < 4; i++) {
      // Find the window's corner by matching the crop against every aligned window of the image.
      const matches: string[] = [];
      for (let y0 = 0; y0 <= size - 32; y0 += 8)
        for (let x0 = 0; x0 <= size - 32; x0 += 8) {
          let same = true;
          for (let c = 0; c < 3 && same; c++)
            for (let y = 0; y < 32 && same; y++)
              for (let x = 0; x < 32 && same; x++)
                same =
                  crop[((i * 3 + c) * 32 + y) * 32 + x] ===
                  whole[((i * 3 + c) * size + y0 + y) * size + x0 + x];
          if (same) matches.push(`${x0},${y0}`);
        }
      expect(matches.length).toBeGreaterThan(0);
    }
    // Another seed moves at least one window.
    expect(cropBatch(whole, size, 32, 8, 12)).not.toEqual(crop);
  });

  it('checks the recipe crop against the VAE downsampling and the frame', () => {
    const recipe = defaultRecipe();
    expect(vaeTrainingSize(recipe)).toBe(32);
    recipe.vae.cropSize = undefined;
    expect(vaeTrainingSize(recipe)).toBe(64);
    for (const bad of [12, 4, 72, 31.5]) {
      recipe.vae.cropSize = bad;
      expect(() => vaeTrainingSize(recipe)).toThrow(/multiple of 8 between 8 and the image size 64/);
    }
  });
});

describe('diffusion noise', () => {
  it('is plain N(0, 1) without offset noise; with it, each (sample, channel) plane shifts by one constant', () => {
    const recipe = defaultRecipe();
    const shape = [3, 4, 8, 8];
    const plain = diffusionNoise(recipe, 7, shape);
    expect(plain).toEqual(gaussians(streamSeed(recipe.seed, STREAM.diffusionNoise, 7), 3 * 4 * 64));
    const offsetRecipe = { ...recipe, unet: { ...recipe.unet, offsetNoise: 0.1 } };
    const shifted = diffusionNoise(offsetRecipe, 7, shape);
    expect(diffusionNoise(offsetRecipe, 7, shape)).toEqual(shifted);
    const shifts: number[] = [];
    for (let plane = 0; plane < 12; plane++) {
      const d0 = shifted[plane * 64] - plain[plane * 64];
      for (let i = 1; i < 64; i++) expect(shifted[plane * 64 + i] - plain[plane * 64 + i]).toBeCloseTo(d0, 5);
      shifts.push(d0 / 0.1);
    }
    // The shifts are N(0, 1) draws of their own stream, different per plane and per step.
    expect(new Set(shifts.map((x) => x.toFixed(4))).size).toBe(12);
    expect(Math.max(...shifts.map(Math.abs))).toBeGreaterThan(0.3);
    expect(diffusionNoise(offsetRecipe, 8, shape)[0] - diffusionNoise(recipe, 8, shape)[0]).not.toBeCloseTo(
      shifts[0] * 0.1,
      5,
    );
  });
});
