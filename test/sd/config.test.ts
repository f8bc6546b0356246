import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  countParameters,
  sd1TensorShapes,
  textShapes,
  unetShapes,
  vaeShapes,
} from '../../src/sd/checkpoint/sd1-tensors.js';
import { cloneConfig, SD1_CONFIG, unetLevelChannels, vaeLevelChannels } from '../../src/sd/config.js';
import { assetPath } from '../../src/shared/assets.js';

function sd1ShapeTable(): Record<string, number[]> {
  const ldm = JSON.parse(readFileSync(assetPath('sd1', 'ldm_keys.json'), 'utf8'));
  const clip = JSON.parse(readFileSync(assetPath('sd1', 'clip_keys.json'), 'utf8')).tensors;
  return { ...ldm, ...clip };
}

describe('SD1_CONFIG', () => {
  it('generates exactly the 1,130 tensors and shapes of a real SD1 checkpoint (assets/sd1 key lists)', () => {
    const expected = sd1ShapeTable();
    const generated = sd1TensorShapes(SD1_CONFIG);
    expect(generated.size).toBe(1130);
    expect(Object.fromEntries(generated)).toEqual(expected);
  });

  it("has SD1's parameter counts: UNet 859,520,964, VAE 83,653,863, CLIP 123,060,480", () => {
    expect(countParameters(unetShapes(SD1_CONFIG.unet).values())).toBe(859_520_964);
    expect(countParameters(vaeShapes(SD1_CONFIG.vae).values())).toBe(83_653_863);
    expect(countParameters(textShapes(SD1_CONFIG.text).values())).toBe(123_060_480);
  });

  it('is frozen; cloneConfig gives a mutable deep copy', () => {
    expect(Object.isFrozen(SD1_CONFIG.unet)).toBe(true);
    const copy = cloneConfig(SD1_CONFIG);
    copy.unet.channelMult[0] = 9;
    expect(SD1_CONFIG.unet.channelMult[0]).toBe(1);
    expect(copy).not.toBe(SD1_CONFIG);
  });

  it('level widths are 320/640/1280/1280 (UNet) and 128/256/512/512 (VAE)', () => {
    expect([0, 1, 2, 3].map((l) => unetLevelChannels(SD1_CONFIG.unet, l))).toEqual([320, 640, 1280, 1280]);
    expect([0, 1, 2, 3].map((l) => vaeLevelChannels(SD1_CONFIG.vae, l))).toEqual([128, 256, 512, 512]);
  });
});
