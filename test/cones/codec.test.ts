import { describe, expect, it } from 'vitest';
import { IndexStreamError } from '../../src/cones/bits.js';
import { checkIndices, decodeIndices, encodeIndices, INDEX_CODECS } from '../../src/cones/codec.js';
import { randomSet, seededRandom } from './helpers.js';

const SHAPES: Array<[number, number]> = [
  [320, 768],
  [640, 640],
  [7, 13],
  [1, 1],
];

/** First position where the arrays differ, or -1 (deep equality of 400k-element arrays is slow in vitest). */
function firstDifference(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function roundTrip(indices: Uint32Array, numel: number) {
  const { bytes, codec } = encodeIndices(indices, numel);
  expect(firstDifference(decodeIndices(bytes, numel), indices)).toBe(-1);
  return { bytes, codec };
}

describe('index stream codec', () => {
  for (const [rows, cols] of SHAPES) {
    const numel = rows * cols;
    it(`round-trips every density exactly on a ${rows}×${cols} weight`, () => {
      const random = seededRandom(rows * 31 + cols);
      const sets = [
        new Uint32Array(0),
        Uint32Array.of(numel - 1),
        randomSet(numel, 0.001, random),
        randomSet(numel, 0.01, random),
        randomSet(numel, 0.05, random),
        randomSet(numel, 0.5, random),
        Uint32Array.from({ length: numel }, (_, i) => i),
      ];
      for (const set of sets) roundTrip(set, numel);
    });
  }

  it('round-trips with every codec forced, not just the chosen one', () => {
    const numel = 64 * 96;
    const set = randomSet(numel, 0.6, seededRandom(5));
    for (const codec of INDEX_CODECS) {
      const { bytes } = encodeIndices(set, numel, { codec });
      expect(firstDifference(decodeIndices(bytes, numel), set)).toBe(-1);
    }
  });

  it('meets the size targets on a real SD1 cross-attention K/V weight (320×768): ≤ 1.2 B/index at 1 %, ≤ 1.6 at 0.1 %', () => {
    const numel = 320 * 768;
    for (const [density, target] of [
      [0.01, 1.2],
      [0.001, 1.6],
    ] as const) {
      let bytes = 0;
      let count = 0;
      for (let seed = 0; seed < 4; seed++) {
        const set = randomSet(numel, density, seededRandom(100 + seed));
        bytes += encodeIndices(set, numel).bytes.length;
        count += set.length;
      }
      expect(bytes / count).toBeLessThanOrEqual(target);
    }
  });

  it('stays near the entropy bound H(p)/p on a 1280×768 weight at 1 %', () => {
    const numel = 1280 * 768;
    const set = randomSet(numel, 0.01, seededRandom(9));
    const bits = (8 * encodeIndices(set, numel).bytes.length) / set.length;
    const p = 0.01;
    const entropy = (-p * Math.log2(p) - (1 - p) * Math.log2(1 - p)) / p;
    expect(bits).toBeLessThan(entropy + 0.25);
  });

  it('picks run-length coding for clustered neurons (whole rows) and the complement for dense sets', () => {
    const rows: number[] = [];
    for (let r = 0; r < 320; r += 40) for (let c = 0; c < 768; c++) rows.push(r * 768 + c);
    expect(roundTrip(Uint32Array.from(rows), 320 * 768).codec).toBe('runs');
    const dense = Uint32Array.from({ length: 1000 }, (_, i) => i).filter((i) => i !== 500);
    const { codec, bytes } = roundTrip(dense, 1000);
    expect(codec).toBe('complement');
    expect(bytes.length).toBeLessThan(10);
  });

  it('refuses unsorted, duplicate and out-of-range indices with the position', () => {
    expect(() => checkIndices([1, 3, 2], 10)).toThrow(/not sorted/);
    expect(() => checkIndices([1, 3, 3], 10)).toThrow(/duplicate index 3/);
    expect(() => checkIndices([1, 10], 10)).toThrow(/out of range/);
    expect(() => encodeIndices(Uint32Array.of(5, 4), 10)).toThrow(IndexStreamError);
  });

  it('detects truncated streams, trailing bytes, unknown codecs and out-of-range decodes', () => {
    const numel = 320 * 768;
    const set = randomSet(numel, 0.01, seededRandom(3));
    const { bytes } = encodeIndices(set, numel);
    expect(() => decodeIndices(bytes.subarray(0, bytes.length - 5), numel)).toThrow(/truncated/);
    expect(() => decodeIndices(Uint8Array.from([...bytes, 0, 0]), numel)).toThrow(/trailing/);
    const unknown = bytes.slice();
    unknown[0] = 9;
    expect(() => decodeIndices(unknown, numel)).toThrow(/unknown index codec/);
    // A header claiming a million indices in three bytes is refused before anything is allocated.
    expect(() => decodeIndices(Uint8Array.of(0, 0xc0, 0x84, 0x3d, 1), 2_000_000)).toThrow(
      /cannot fit in 5 bytes/,
    );
    // Same stream read as if the weight were smaller: the last indices fall outside it.
    expect(() => decodeIndices(bytes, set[set.length - 1])).toThrow(/out of range|claims/);
  });
});
