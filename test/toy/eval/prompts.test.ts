import { describe, expect, it } from 'vitest';
import { captionFor } from '../../../src/toy/caption.js';
import {
  evalPrompts,
  HELD_OUT_PROMPT_COUNT,
  promptFor,
  SEEN_PROMPT_COUNT,
} from '../../../src/toy/eval/prompts.js';
import { HELD_OUT, isHeldOut } from '../../../src/toy/scene.js';
import { BACKGROUND_COLOURS, OBJECT_COLOURS, SHAPES, SIZES } from '../../../src/toy/vocabulary.js';

const countBy = <T>(items: readonly T[]) => {
  const counts = new Map<T, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
};

describe('toy eval prompts', () => {
  const all = evalPrompts();
  const seen = all.filter((p) => !p.heldOut);
  const heldOut = all.filter((p) => p.heldOut);

  it('has at least 12 seen prompts covering every shape, colour and background alike', () => {
    expect(seen).toHaveLength(SEEN_PROMPT_COUNT);
    expect(seen.length).toBeGreaterThanOrEqual(12);
    for (const [values, key] of [
      [SHAPES, 'shape'],
      [OBJECT_COLOURS, 'colour'],
      [BACKGROUND_COLOURS, 'background'],
      [SIZES, 'size'],
    ] as const) {
      const counts = countBy(seen.map((p) => p.subject[key]));
      expect([...counts.keys()].sort()).toEqual([...values].sort());
      expect(new Set(counts.values()).size).toBe(1);
    }
    expect(seen.some((p) => p.subject.pattern === 'dotted')).toBe(true);
    expect(seen.some((p) => p.subject.pattern === 'striped')).toBe(true);
  });

  it('has one prompt per HELD_OUT entry, and none of the seen ones is held out', () => {
    expect(heldOut).toHaveLength(HELD_OUT.length);
    expect(HELD_OUT_PROMPT_COUNT).toBe(HELD_OUT.length);
    HELD_OUT.forEach((entry, i) => {
      expect(heldOut[i].subject).toMatchObject(entry);
      expect(isHeldOut(heldOut[i].subject)).toBe(true);
    });
    for (const p of seen) expect(isHeldOut(p.subject)).toBe(false);
  });

  it('words prompts as the full training caption, never on the object colour, all distinct', () => {
    for (const p of all) {
      const { background, ...object } = p.subject;
      expect(p.text).toBe(
        captionFor({ background, objects: [{ ...object, x: 0.5, y: 0.5, extent: 0.5 }] }, 'full'),
      );
      expect(p.text).toMatch(/^a photo of an? .+ on an? \w+ background$/);
      expect(background).not.toBe(object.colour);
    }
    expect(new Set(all.map((p) => p.text)).size).toBe(all.length);
    expect(promptFor(heldOut[3].subject).text).toBe(
      'a photo of a large red striped ring on a yellow background',
    );
  });

  it('takes the first prompts of each set, and refuses more than there are', () => {
    const quick = evalPrompts({ seen: 4, heldOut: 2 });
    expect(quick.map((p) => p.text)).toEqual(
      [...seen.slice(0, 4), ...heldOut.slice(0, 2)].map((p) => p.text),
    );
    expect(() => evalPrompts({ seen: SEEN_PROMPT_COUNT + 1, heldOut: 0 })).toThrow(RangeError);
  });
});
