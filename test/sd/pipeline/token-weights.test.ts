import { describe, expect, it } from 'vitest';
import { hasNonUnitWeights, weightAndConcatChunks } from '../../../src/sd/pipeline/token-weights.js';

describe('weightAndConcatChunks', () => {
  it('moves weighted positions away from the empty prompt: z ← (z − z_empty)·w + z_empty', () => {
    const chunk = new Float32Array([1, 2, 3, 4]); // 2 tokens × width 2
    const empty = new Float32Array([0, 1, 1, 1]);
    const out = weightAndConcatChunks([chunk], [[1, 2]], empty, 2);
    expect([...out]).toEqual([1, 2, (3 - 1) * 2 + 1, (4 - 1) * 2 + 1]);
  });

  it('concatenates chunks along the token axis and leaves unit weights untouched', () => {
    const out = weightAndConcatChunks(
      [new Float32Array([1, 2]), new Float32Array([3, 4])],
      [[1], [1]],
      undefined,
      2,
    );
    expect([...out]).toEqual([1, 2, 3, 4]);
    expect(hasNonUnitWeights([[1], [1]])).toBe(false);
    expect(hasNonUnitWeights([[1], [1.1]])).toBe(true);
  });
});
