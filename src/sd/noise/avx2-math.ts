/**
 * The float32 log and sincos of PyTorch's AVX2 normal kernel (`avx_mathfun.h`, after Julien
 * Pommier's sse_mathfun / Cephes), with the multiply-adds that GCC fuses in the official Linux
 * build evaluated as single-rounding FMAs (SD1_SPEC §6.4 variant A).
 */
import { fmaf } from './float32-fma.js';

const fr = Math.fround;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const i32 = new Int32Array(f32.buffer);

const SQRTHF = fr(Math.SQRT1_2); // Cephes SQRTHF
const LOG_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(fr);
const LOG_Q1 = fr(-2.1219444e-4);
const LOG_Q2 = fr(0.693359375);

/** log256_ps for a positive normal float32. */
export function avx2Logf(xIn: number): number {
  f32[0] = xIn;
  const exponent = (u32[0] >>> 23) - 0x7f;
  u32[0] = (u32[0] & ~0x7f800000) | 0x3f000000; // mantissa in [0.5, 1)
  let x = f32[0];
  let e = fr(exponent + 1);
  if (x < SQRTHF) {
    e = fr(e - 1);
    x = fr(fr(x - 1) + x);
  } else x = fr(x - 1);
  const z = fr(x * x);
  let y = LOG_P[0];
  for (let k = 1; k < LOG_P.length; k++) y = fmaf(y, x, LOG_P[k]);
  y = fr(y * x);
  y = fmaf(y, z, fr(e * LOG_Q1));
  y = fr(y - fr(z * 0.5));
  x = fr(x + y);
  return fr(x + fr(e * LOG_Q2));
}

const FOPI = fr(1.27323954473516);
const MINUS_DP1 = fr(-0.78515625);
const MINUS_DP2 = fr(-2.4187564849853516e-4);
const MINUS_DP3 = fr(-3.774894977445941e-8);
const COS_P0 = fr(2.443315711809948e-5);
const COS_P1 = fr(-1.388731625493765e-3);
const COS_P2 = fr(4.166664568298827e-2);
const SIN_P0 = fr(-1.9515295891e-4);
const SIN_P1 = fr(8.3321608736e-3);
const SIN_P2 = fr(-1.6666654611e-1);

function flipSign(v: number, flip: boolean): number {
  if (!flip) return v;
  f32[0] = v;
  i32[0] ^= 0x80000000;
  return f32[0];
}

/** sincos256_ps for a float32 θ ≥ 0; writes [sin, cos] into out. */
export function avx2SinCosf(theta: number, out: Float64Array): void {
  let j = Math.trunc(fr(theta * FOPI)); // cvttps: truncation
  j = (j + 1) & ~1;
  const y = fr(j);
  let x = fmaf(y, MINUS_DP1, theta);
  x = fmaf(y, MINUS_DP2, x);
  x = fmaf(y, MINUS_DP3, x);
  const z = fr(x * x);

  let yc = fmaf(COS_P0, z, COS_P1);
  yc = fmaf(yc, z, COS_P2);
  yc = fmaf(fr(yc * z), z, -fr(z * 0.5));
  yc = fr(yc + 1);

  let ys = fmaf(SIN_P0, z, SIN_P1);
  ys = fmaf(ys, z, SIN_P2);
  ys = fmaf(fr(ys * z), x, x);

  const useSinPoly = (j & 2) === 0;
  out[0] = flipSign(useSinPoly ? ys : yc, (j & 4) !== 0);
  out[1] = flipSign(useSinPoly ? yc : ys, (~(j - 2) & 4) !== 0);
}
