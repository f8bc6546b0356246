import { describe, expect, it } from 'vitest';
import { CAPTION_VARIANT_NAMES, captionFor, randomCaption } from '../../src/toy/caption.js';
import { trainingExamples } from '../../src/toy/examples.js';
import { createRng } from '../../src/toy/random.js';
import type { Scene, ToyObject } from '../../src/toy/scene.js';

const ring: ToyObject = {
  shape: 'ring',
  colour: 'orange',
  size: 'large',
  pattern: 'striped',
  x: 0.3,
  y: 0.5,
  extent: 0.5,
};
const square: ToyObject = {
  ...ring,
  shape: 'square',
  colour: 'red',
  size: 'small',
  pattern: 'plain',
  x: 0.8,
};
const one: Scene = { background: 'blue', objects: [ring] };
const two: Scene = { background: 'white', objects: [ring, square] };

describe('toy captions', () => {
  it('writes the full caption with the pattern word before the shape only when not plain', () => {
    expect(captionFor(one)).toBe('a photo of a large orange striped ring on a blue background');
    expect(captionFor({ background: 'black', objects: [square] })).toBe(
      'a photo of a small red square on a black background',
    );
    expect(captionFor(two)).toBe(
      'a photo of a large orange striped ring and a small red square on a white background',
    );
  });

  it('leaves attributes out in the shortened variants, with the right article', () => {
    const all = Object.fromEntries(CAPTION_VARIANT_NAMES.map((v) => [v, captionFor(one, v)]));
    expect(all).toEqual({
      full: 'a photo of a large orange striped ring on a blue background',
      'no-background': 'a photo of a large orange striped ring',
      'colour-shape-background': 'a photo of an orange ring on a blue background',
      shape: 'a photo of a ring',
      'colour-shape': 'an orange ring',
      'size-shape': 'a large ring',
      'pattern-shape': 'a striped ring',
      'shape-background': 'a ring on a blue background',
    });
    expect(captionFor(two, 'colour-shape')).toBe('an orange ring and a red square');
  });

  it('draws every variant, the full one most often, deterministically by seed', () => {
    const rng = createRng(3);
    const drawn = Array.from({ length: 2000 }, () => randomCaption(one, rng));
    for (const variant of CAPTION_VARIANT_NAMES) expect(drawn).toContain(captionFor(one, variant));
    const fullShare = drawn.filter((c) => c === captionFor(one)).length / drawn.length;
    expect(fullShare).toBeGreaterThan(0.45);
    expect(fullShare).toBeLessThan(0.55);
    const take = (seed: number) => {
      const stream = trainingExamples(seed);
      return Array.from({ length: 20 }, () => stream.next().value);
    };
    expect(take(5)).toEqual(take(5));
    expect(take(5)).not.toEqual(take(6));
  });

  it('refuses an unknown variant', () => {
    expect(() => captionFor(one, 'haiku' as 'full')).toThrow(/unknown caption variant haiku/);
  });
});
