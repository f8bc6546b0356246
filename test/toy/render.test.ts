import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { trainingExamples } from '../../src/toy/examples.js';
import { renderScene } from '../../src/toy/render.js';
import type { Scene, ToyObject } from '../../src/toy/scene.js';
import { BACKGROUND_RGB, OBJECT_RGB, patternRgb } from '../../src/toy/vocabulary.js';

const circle: ToyObject = {
  shape: 'circle',
  colour: 'green',
  size: 'large',
  pattern: 'plain',
  x: 0.5,
  y: 0.5,
  extent: 32 / 64,
};

function pixel(rgb: Uint8Array, size: number, x: number, y: number): number[] {
  return Array.from(rgb.subarray((y * size + x) * 3, (y * size + x) * 3 + 3));
}

function countColour(rgb: Uint8Array, colour: readonly number[]): number {
  let n = 0;
  for (let i = 0; i < rgb.length; i += 3) {
    if (rgb[i] === colour[0] && rgb[i + 1] === colour[1] && rgb[i + 2] === colour[2]) n++;
  }
  return n;
}

describe('toy renderer', () => {
  it('renders the same seed to the same bytes, run after run', () => {
    const digest = () => {
      const hash = createHash('sha256');
      const stream = trainingExamples(2024, { secondObjectChance: 0.5 });
      for (let i = 0; i < 30; i++) {
        const { scene, caption } = stream.next().value;
        hash.update(renderScene(scene)).update(caption);
      }
      return hash.digest('hex');
    };
    const first = digest();
    expect(digest()).toBe(first);
    // Pinned: a change here changes the training data of every model trained on the toy world.
    expect(first).toBe('bea8a10512e3963551c3a9f3fd4bda5dc34ec45bf022e4ef8fec0f25b8e2be70');
  });

  it('is RGB HWC of the requested size, plain colours inside and anti-aliased edges', () => {
    const scene: Scene = { background: 'white', objects: [circle] };
    const rgb = renderScene(scene);
    expect(rgb).toHaveLength(64 * 64 * 3);
    expect(pixel(rgb, 64, 32, 32)).toEqual([...OBJECT_RGB.green]);
    expect(pixel(rgb, 64, 0, 0)).toEqual([...BACKGROUND_RGB.white]);
    expect(pixel(rgb, 64, 32, 17)).toEqual([...OBJECT_RGB.green]);
    const green = countColour(rgb, OBJECT_RGB.green);
    const white = countColour(rgb, BACKGROUND_RGB.white);
    const edge = 64 * 64 - green - white;
    // The circle's rim (~2π·16 ≈ 100 px) is blended, not jagged.
    expect(edge).toBeGreaterThan(60);
    expect(edge).toBeLessThan(160);
    expect(green + edge / 2).toBeCloseTo(Math.PI * 16 * 16, -1.5);

    const big = renderScene(scene, 128);
    expect(big).toHaveLength(128 * 128 * 3);
    expect(pixel(big, 128, 64, 64)).toEqual([...OBJECT_RGB.green]);
    expect(countColour(big, OBJECT_RGB.green)).toBeGreaterThan(3.9 * green);
  });

  it('draws dots and stripes in the darker shade, leaving most of the object its colour', () => {
    const share = (pattern: ToyObject['pattern']) => {
      const rgb = renderScene({ background: 'black', objects: [{ ...circle, pattern, colour: 'blue' }] });
      const base = countColour(rgb, OBJECT_RGB.blue);
      const dark = countColour(rgb, patternRgb('blue'));
      return dark / (base + dark);
    };
    expect(share('plain')).toBe(0);
    expect(share('dotted')).toBeGreaterThan(0.1);
    expect(share('dotted')).toBeLessThan(0.4);
    expect(share('striped')).toBeGreaterThan(0.4);
    expect(share('striped')).toBeLessThan(0.55);
  });

  it('keeps small and large clearly apart', () => {
    const area = (extent: number) =>
      64 * 64 -
      countColour(renderScene({ background: 'white', objects: [{ ...circle, extent }] }), [255, 255, 255]);
    expect(area(36 / 64)).toBeGreaterThan(4 * area(16 / 64));
  });
});
