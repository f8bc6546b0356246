import { describe, expect, it } from 'vitest';
import {
  bf16BitsToF32,
  bytesToF16Bits,
  bytesToF32,
  f16BitsToF32,
  f32BitsToBf16Bits,
  f32ToF16Array,
  f32ToF16Bits,
} from '../../../src/sd/checkpoint/dtype.js';

function f32Bits(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0];
}

describe('F16 ↔ F32', () => {
  it('every non-NaN half survives half → float → half unchanged', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToF16Array(f16BitsToF32(all));
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const nan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (back[h] !== (nan ? 0x7e00 : h)) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('decodes known halves exactly, subnormals and infinities included', () => {
    const values = f16BitsToF32(
      new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x8000, 0x3555]),
    );
    expect([...values]).toEqual([
      1,
      -2,
      65504,
      2 ** -24,
      1023 * 2 ** -24,
      2 ** -14,
      Infinity,
      -Infinity,
      -0,
      0.333251953125,
    ]);
    expect(Number.isNaN(f16BitsToF32(new Uint16Array([0x7e00]))[0])).toBe(true);
  });

  it('rounds float → half to nearest, ties to even, like torch .half()', () => {
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie between 1 and 1+2^-10 → even (1)
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (1 + 2·2^-10)
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie → up
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds past the largest half → inf
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // exactly half the smallest subnormal: tie → even (0)
    expect(f32ToF16Bits(2 ** -25 * 1.5)).toBe(0x0001);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // tie between subnormals 1 and 2 → even
    expect(f32ToF16Bits(2 ** -14 - 2 ** -26)).toBe(0x0400); // subnormal rounding carries into the smallest normal
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(1e-10)).toBe(0);
    expect(f32ToF16Bits(Number.NaN)).toBe(0x7e00);
  });

  it('F16 bytes pass through readF16 untouched; F32 bytes round', () => {
    const half = new Uint16Array([0x3c00, 0x1234, 0xfbff]);
    const bytes = new Uint8Array(half.buffer);
    expect([...bytesToF16Bits(bytes, 'F16')]).toEqual([...half]);
    const asF32 = new Uint8Array(f16BitsToF32(half).buffer);
    expect([...bytesToF16Bits(asF32, 'F32')]).toEqual([...half]);
  });
});

describe('BF16 → F32', () => {
  it('is the top 16 bits of the float, exactly', () => {
    const xs = [1, -2.5, 3.140625, 1e30, -1e-30, Infinity];
    const bits = new Uint16Array(xs.map((x) => f32Bits(x) >>> 16));
    const back = bf16BitsToF32(bits);
    xs.forEach((x, i) => {
      expect(f32Bits(back[i])).toBe(((f32Bits(x) >>> 16) << 16) >>> 0);
    });
    expect([...bf16BitsToF32(new Uint16Array([0x3f80, 0xc020]))]).toEqual([1, -2.5]);
  });

  it('rounds float → bf16 to nearest even', () => {
    expect(f32BitsToBf16Bits(0x3f808000)).toBe(0x3f80); // tie → even
    expect(f32BitsToBf16Bits(0x3f818000)).toBe(0x3f82); // tie → even (up)
    expect(f32BitsToBf16Bits(0x3f808001)).toBe(0x3f81);
  });
});

describe('bytesToF32', () => {
  it('decodes F32 from an unaligned offset by copying', () => {
    const src = new Float32Array([1.5, -7, 2 ** -130]);
    const buf = new Uint8Array(13);
    buf.set(new Uint8Array(src.buffer), 1);
    expect([...bytesToF32(buf.subarray(1), 'F32')]).toEqual([...src]);
  });

  it('decodes F16 and BF16 from an unaligned offset', () => {
    const buf = new Uint8Array([0, 0x00, 0x3c, 0x80, 0x3f]);
    expect([...bytesToF32(buf.subarray(1, 3), 'F16')]).toEqual([1]);
    expect([...bytesToF32(buf.subarray(3, 5), 'BF16')]).toEqual([1]);
  });
});
