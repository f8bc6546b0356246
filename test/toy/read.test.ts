import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/toy/random.js';
import { readScene } from '../../src/toy/read.js';
import { renderScene } from '../../src/toy/render.js';
import type { Scene, ToyObject } from '../../src/toy/scene.js';
import { type Accuracy, measureAccuracy } from './accuracy.js';
import { addGaussianNoise, gaussianBlur } from './degrade.js';

function report(label: string, accuracy: Accuracy): void {
  const figures = Object.entries(accuracy).map(([k, v]) => `${k} ${(100 * v).toFixed(1)}%`);
  console.log(`toy reader, ${label}: ${figures.join(', ')}`);
}

const star: ToyObject = {
  shape: 'star',
  colour: 'purple',
  size: 'large',
  pattern: 'dotted',
  x: 0.3,
  y: 0.4,
  extent: 30 / 64,
};

describe('toy attribute reader', () => {
  it('reads ≥ 99 % of every attribute right on 1,000 clean random renders', () => {
    const { accuracy } = measureAccuracy(1, 1000);
    report('clean', accuracy);
    for (const [attribute, value] of Object.entries(accuracy))
      expect(value, attribute).toBeGreaterThanOrEqual(0.99);
  });

  it('stays high under mild Gaussian noise (σ = 10 levels)', () => {
    const rng = createRng(11);
    const { accuracy } = measureAccuracy(2, 200, (rgb) => addGaussianNoise(rgb, 10, rng));
    report('noise σ=10', accuracy);
    for (const [attribute, value] of Object.entries(accuracy))
      expect(value, attribute).toBeGreaterThanOrEqual(0.97);
  });

  it('stays high under mild blur (Gaussian σ = 0.8 px)', () => {
    const { accuracy } = measureAccuracy(3, 200, (rgb) => gaussianBlur(rgb, 64, 0.8));
    report('blur σ=0.8', accuracy);
    for (const [attribute, value] of Object.entries(accuracy))
      expect(value, attribute).toBeGreaterThanOrEqual(0.95);
  });

  it('reads objects at other image sizes, in fractions of the frame', () => {
    const scene: Scene = {
      background: 'yellow',
      objects: [star, { ...star, shape: 'ring', x: 0.75, y: 0.75 }],
    };
    const reading = readScene(renderScene(scene, 128), 128);
    expect(reading.background).toBe('yellow');
    const [first, second] = reading.objects.sort((a, b) => a.x - b.x);
    expect([first.shape, first.colour, first.size, first.pattern]).toEqual([
      'star',
      'purple',
      'large',
      'dotted',
    ]);
    expect([second.shape, second.pattern]).toEqual(['ring', 'dotted']);
    expect(first.x).toBeCloseTo(0.3, 1);
    expect(second.y).toBeCloseTo(0.75, 1);
  });

  it('ignores specks', () => {
    const rgb = renderScene({ background: 'white', objects: [star] });
    // A 3×3 red blot far from the star.
    for (let y = 55; y < 58; y++) for (let x = 55; x < 58; x++) rgb.set([230, 30, 30], (y * 64 + x) * 3);
    const reading = readScene(rgb);
    expect(reading.objects.map((o) => o.shape)).toEqual(['star']);
  });

  it('refuses an image whose length does not match its size', () => {
    expect(() => readScene(new Uint8Array(64 * 64 * 3), 32)).toThrow(
      /expected 32×32×3 = 3072 bytes, got 12288/,
    );
    expect(() => readScene(new Uint8Array(12), 2)).toThrow(/size must be an integer ≥ 3/);
  });
});
