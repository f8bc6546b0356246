import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/toy/random.js';

describe('toy world PRNG', () => {
  it('repeats its stream for the same seed and differs between seeds', () => {
    const draw = (seed: number) => Array.from({ length: 50 }, createRng(seed).next);
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    expect(draw(1)).not.toEqual(draw(1 + 2 ** 32));
  });

  it('draws uniform values in range', () => {
    const rng = createRng(7);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[rng.int(4)]++;
    for (const count of counts) expect(count).toBeGreaterThan(850);
    for (let i = 0; i < 1000; i++) {
      const u = rng.next();
      expect(u >= 0 && u < 1).toBe(true);
    }
  });

  it('refuses seeds it cannot represent exactly', () => {
    expect(() => createRng(0.5)).toThrow(RangeError);
    expect(() => createRng(2 ** 60)).toThrow(RangeError);
  });
});
