import { describe, expect, it } from 'vitest';
import { indicesAboveThreshold, layerScale, topFractionIndices } from '../../src/cones/concept.js';

describe('concept selection helpers', () => {
  it('selects M_p > τ', () => {
    expect(Array.from(indicesAboveThreshold(Float32Array.of(0.1, 0.5, 0.2, 0.9), 0.2))).toEqual([1, 3]);
  });

  it('selects exactly the top fraction across layers, ties toward earlier layers, NaN never', () => {
    const scores = new Map([
      ['a', Float32Array.of(5, 1, Number.NaN, 3)],
      ['b', Float32Array.of(3, 4, 0, 3)],
    ]);
    const picked = topFractionIndices(scores, 0.5);
    expect(Array.from(picked.get('a')!)).toEqual([0, 3]);
    expect(Array.from(picked.get('b')!)).toEqual([0, 1]);
    const all = topFractionIndices(scores, 1);
    expect(all.get('a')!.length + all.get('b')!.length).toBe(7);
    expect(() => topFractionIndices(scores, 0)).toThrow(/top fraction/);
  });

  it('shutting the selected neurons changes exactly those weights (θ ⊙ M)', () => {
    const layer = { key: 'k', shape: [2, 3] as [number, number], indices: Uint32Array.of(1, 4) };
    expect(Array.from(layerScale(layer))).toEqual([1, 0, 1, 1, 0, 1]);
    expect(Array.from(layerScale(layer, 0.25))).toEqual([1, 0.75, 1, 1, 0.75, 1]);
  });
});
