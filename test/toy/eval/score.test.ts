import { describe, expect, it } from 'vitest';
import { promptFor } from '../../../src/toy/eval/prompts.js';
import {
  addTallies,
  meanAbsoluteError,
  promptTarget,
  ratesOf,
  readingTarget,
  sceneTarget,
  scoreReading,
} from '../../../src/toy/eval/score.js';
import type { ReadObject, SceneReading } from '../../../src/toy/read.js';
import { readScene } from '../../../src/toy/read.js';
import { renderScene } from '../../../src/toy/render.js';
import type { Scene } from '../../../src/toy/scene.js';

function read(o: Partial<ReadObject> = {}): ReadObject {
  return {
    shape: 'circle',
    colour: 'red',
    size: 'large',
    pattern: 'plain',
    x: 0.5,
    y: 0.5,
    extent: 0.5,
    area: 600,
    evidence: { shapeIoU: 0.9, darkFraction: 0, stripeScore: 0 },
    ...o,
  };
}

const reading = (background: SceneReading['background'], ...objects: ReadObject[]): SceneReading => ({
  background,
  objects,
});

const redCircle = promptFor({
  shape: 'circle',
  colour: 'red',
  size: 'large',
  pattern: 'plain',
  background: 'white',
});
const stripedStar = promptFor({
  shape: 'star',
  colour: 'blue',
  size: 'small',
  pattern: 'striped',
  background: 'black',
});

describe('scoring readings against prompts', () => {
  it('checks shape, colour, size and background, and the pattern only when the prompt names one', () => {
    expect(promptTarget(redCircle.subject).objects[0]).not.toHaveProperty('pattern');
    expect(promptTarget(stripedStar.subject).objects[0].pattern).toBe('striped');
    // The reader's "dotted" does not count against a prompt that names no pattern.
    const s = scoreReading(promptTarget(redCircle.subject), reading('white', read({ pattern: 'dotted' })));
    expect(s.asked).toEqual({ shape: 1, colour: 1, background: 1, size: 1, pattern: 0 });
    expect(s.right).toEqual(s.asked);
    expect(s).toMatchObject({ images: 1, allCorrect: 1 });
  });

  it('fails the whole image on any wrong attribute, and every object check when nothing was read', () => {
    const wrong = scoreReading(promptTarget(redCircle.subject), reading('white', read({ colour: 'orange' })));
    expect(wrong.right).toEqual({ shape: 1, colour: 0, background: 1, size: 1, pattern: 0 });
    expect(wrong.allCorrect).toBe(0);
    const empty = scoreReading(promptTarget(stripedStar.subject), reading('black'));
    expect(empty.asked).toEqual({ shape: 1, colour: 1, background: 1, size: 1, pattern: 1 });
    expect(empty.right).toEqual({ shape: 0, colour: 0, background: 1, size: 0, pattern: 0 });
    expect(empty.allCorrect).toBe(0);
  });

  it('compares a prompt with the largest read object, and a positioned object with the nearest one', () => {
    const two = reading('white', read(), read({ shape: 'square', size: 'small', x: 0.1, y: 0.1 }));
    expect(scoreReading(promptTarget(redCircle.subject), two).allCorrect).toBe(1);
    const target = { objects: [{ shape: 'square' as const, x: 0.12, y: 0.1 }] };
    expect(scoreReading(target, two).right.shape).toBe(1);
  });

  it('adds tallies up into per-attribute rates and the all-correct share', () => {
    const target = promptTarget(stripedStar.subject);
    const right = read({ shape: 'star', colour: 'blue', size: 'small', pattern: 'striped' });
    const total = addTallies(
      scoreReading(target, reading('black', right)),
      scoreReading(target, reading('black', { ...right, pattern: 'dotted' })),
      scoreReading(target, reading('white', { ...right, shape: 'circle' })),
      scoreReading(promptTarget(redCircle.subject), reading('white', read())),
    );
    const rates = ratesOf(total);
    expect(rates.images).toBe(4);
    expect(rates.attributes.shape).toBeCloseTo(3 / 4);
    expect(rates.attributes.colour).toBe(1);
    expect(rates.attributes.background).toBeCloseTo(3 / 4);
    expect(rates.attributes.size).toBe(1);
    expect(rates.attributes.pattern).toBeCloseTo(2 / 3);
    expect(rates.allCorrect).toBeCloseTo(2 / 4);
    expect(ratesOf(addTallies())).toEqual({
      images: 0,
      attributes: { shape: null, colour: null, background: null, size: null, pattern: null },
      allCorrect: null,
    });
  });
});

describe('scoring readings against scenes and other readings', () => {
  const scene: Scene = {
    background: 'green',
    objects: [
      {
        shape: 'triangle',
        colour: 'yellow',
        size: 'large',
        pattern: 'striped',
        x: 0.35,
        y: 0.4,
        extent: 0.5,
      },
      { shape: 'cross', colour: 'purple', size: 'small', pattern: 'plain', x: 0.8, y: 0.8, extent: 0.22 },
    ],
  };

  it('checks every object and attribute of a scene against the reader on its render', () => {
    const s = scoreReading(sceneTarget(scene), readScene(renderScene(scene)));
    expect(s.asked).toEqual({ shape: 2, colour: 2, background: 1, size: 2, pattern: 2 });
    expect(s.right).toEqual(s.asked);
    expect(s.allCorrect).toBe(1);
  });

  it('scores a reading against itself as all correct, and against a changed copy as not', () => {
    const original = readScene(renderScene(scene));
    expect(scoreReading(readingTarget(original), original).allCorrect).toBe(1);
    const changed = {
      ...original,
      objects: [original.objects[0], { ...original.objects[1], colour: 'red' as const }],
    };
    const s = scoreReading(readingTarget(original), changed);
    expect(s.right.colour).toBe(1);
    expect(s.allCorrect).toBe(0);
  });
});

describe('meanAbsoluteError', () => {
  it('is the mean absolute byte difference', () => {
    expect(meanAbsoluteError(Uint8Array.of(0, 10, 255), Uint8Array.of(5, 10, 0))).toBeCloseTo(260 / 3);
    expect(() => meanAbsoluteError(Uint8Array.of(1), Uint8Array.of(1, 2))).toThrow(RangeError);
  });
});
