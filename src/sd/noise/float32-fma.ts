/** Exact single-precision fused multiply-add on float32 inputs, computed in double. */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float32 next to r (a float32) in the direction of `toward`. */
function floatNeighbor(r: number, toward: number): number {
  if (r === 0) return toward > 0 ? 2 ** -149 : -(2 ** -149);
  f32[0] = r;
  // For |r| growing, bits grow; moving away from zero = +1 on the magnitude bits.
  const awayFromZero = toward > r === r > 0;
  u32[0] = awayFromZero ? u32[0] + 1 : u32[0] - 1;
  return f32[0];
}

/**
 * round_to_float32(a·b + c) with one rounding. a·b of two float32 is exact in double; the sum is
 * rounded to double first, which only matters when it lands exactly on a float32 midpoint (the
 * double has more than 2·24 + 2 bits): TwoSum's error term then says which way the exact value
 * lies.
 */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = Math.fround(s);
  if (r === s || !Number.isFinite(s)) return r;
  const n = floatNeighbor(r, s);
  if (s !== (r + n) / 2) return r;
  const bb = s - p;
  const err = p - (s - bb) + (c - bb);
  if (err === 0) return r; // a true tie: fround already rounded to even
  return err > 0 ? Math.max(r, n) : Math.min(r, n);
}
