/**
 * glibc's single-precision logf, sinf and cosf (glibc ≥ 2.28, the Arm optimized-routines
 * algorithms), evaluated in double exactly as the C code does, so results round to the same
 * float32 as Linux PyTorch's scalar normal kernel (SD1_SPEC §6.4 variant S). Only the input
 * ranges torch's randn produces are handled: logf on normal floats in (0, 1], sin/cos for
 * |y| < 120. `Math.fround(Math.log(x))` differs from glibc on ~1 % of those inputs.
 * Constants: glibc sysdeps/ieee754/flt-32/e_logf_data.c and s_sincosf_data.c.
 */
import { hexFloat } from './hex-float.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

const LOGF_INVC = [
  '0x1.661ec79f8f3bep+0',
  '0x1.571ed4aaf883dp+0',
  '0x1.49539f0f010bp+0',
  '0x1.3c995b0b80385p+0',
  '0x1.30d190c8864a5p+0',
  '0x1.25e227b0b8eap+0',
  '0x1.1bb4a4a1a343fp+0',
  '0x1.12358f08ae5bap+0',
  '0x1.0953f419900a7p+0',
  '0x1p+0',
  '0x1.e608cfd9a47acp-1',
  '0x1.ca4b31f026aap-1',
  '0x1.b2036576afce6p-1',
  '0x1.9c2d163a1aa2dp-1',
  '0x1.886e6037841edp-1',
  '0x1.767dcf5534862p-1',
].map(hexFloat);
const LOGF_LOGC = [
  '-0x1.57bf7808caadep-2',
  '-0x1.2bef0a7c06ddbp-2',
  '-0x1.01eae7f513a67p-2',
  '-0x1.b31d8a68224e9p-3',
  '-0x1.6574f0ac07758p-3',
  '-0x1.1aa2bc79c81p-3',
  '-0x1.a4e76ce8c0e5ep-4',
  '-0x1.1973c5a611cccp-4',
  '-0x1.252f438e10c1ep-5',
  '0x0p+0',
  '0x1.aa5aa5df25984p-5',
  '0x1.c5e53aa362eb4p-4',
  '0x1.526e57720db08p-3',
  '0x1.bc2860d22477p-3',
  '0x1.1058bc8a07ee1p-2',
  '0x1.4043057b6ee09p-2',
].map(hexFloat);
const LN2 = hexFloat('0x1.62e42fefa39efp-1');
const LOGF_A0 = hexFloat('-0x1.00ea348b88334p-2');
const LOGF_A1 = hexFloat('0x1.5575b0be00b6ap-2');
const LOGF_A2 = hexFloat('-0x1.ffffef20a4123p-2');

/** glibc logf for a normal positive float32 x. */
export function glibcLogf(x: number): number {
  f32[0] = x;
  const ix = u32[0];
  const tmp = (ix - 0x3f330000) >>> 0;
  const i = (tmp >>> 19) & 15;
  const k = (tmp | 0) >> 23;
  u32[0] = (ix - (tmp & 0xff800000)) >>> 0;
  const z = f32[0];
  const r = z * LOGF_INVC[i] - 1;
  const y0 = LOGF_LOGC[i] + k * LN2;
  const r2 = r * r;
  let y = LOGF_A1 * r + LOGF_A2;
  y = LOGF_A0 * r2 + y;
  y = y * r2 + (y0 + r);
  return Math.fround(y);
}

// sin/cos polynomial sets; the second negates the cosine coefficients (glibc __sincosf_table).
interface SinCosPoly {
  c0: number;
  c1: number;
  c2: number;
  c3: number;
  c4: number;
  s1: number;
  s2: number;
  s3: number;
}
const C1 = hexFloat('-0x1.ffffffd0c621cp-2');
const C2 = hexFloat('0x1.55553e1068f19p-5');
const C3 = hexFloat('-0x1.6c087e89a359dp-10');
const C4 = hexFloat('0x1.99343027bf8c3p-16');
const S1 = hexFloat('-0x1.555545995a603p-3');
const S2 = hexFloat('0x1.1107605230bc4p-7');
const S3 = hexFloat('-0x1.994eb3774cf24p-13');
const POLY: readonly SinCosPoly[] = [
  { c0: 1, c1: C1, c2: C2, c3: C3, c4: C4, s1: S1, s2: S2, s3: S3 },
  { c0: -1, c1: -C1, c2: -C2, c3: -C3, c4: -C4, s1: S1, s2: S2, s3: S3 },
];
const SIGN = [1, -1, -1, 1];
const HPI_INV = hexFloat('0x1.45F306DC9C883p+23'); // 2/π · 2²⁴ (x86: no TOINT_INTRINSICS)
const HPI = hexFloat('0x1.921FB54442D18p0');

function abstop12(x: number): number {
  f32[0] = x;
  return (u32[0] >>> 20) & 0x7ff;
}
const TOP12_PIO4 = abstop12(hexFloat('0x1.921FB54442D18p-1'));
const TOP12_TINY = abstop12(2 ** -12);
const TOP12_120 = abstop12(120);

/** sin (n even) or cos (n odd) polynomial on the reduced argument. */
function sinfPoly(x: number, x2: number, p: SinCosPoly, n: number): number {
  if ((n & 1) === 0) {
    const x3 = x * x2;
    const s1 = p.s2 + x2 * p.s3;
    const x7 = x3 * x2;
    const s = x + x3 * p.s1;
    return s + x7 * s1;
  }
  const x4 = x2 * x2;
  const c2 = p.c3 + x2 * p.c4;
  const c1 = p.c0 + x2 * p.c1;
  const x6 = x4 * x2;
  const c = c1 + x4 * p.c2;
  return c + x6 * c2;
}

function outOfRange(y: number): never {
  throw new RangeError(`glibc sinf/cosf model covers |y| < 120, got ${y}`);
}

/** glibc sinf for a float32 |y| < 120. */
export function glibcSinf(y: number): number {
  const top = abstop12(y);
  if (top < TOP12_PIO4) {
    if (top < TOP12_TINY) return y;
    return Math.fround(sinfPoly(y, y * y, POLY[0], 0));
  }
  if (top >= TOP12_120) outOfRange(y);
  const n = (Math.trunc(y * HPI_INV) + 0x800000) >> 24;
  const x = y - n * HPI;
  return Math.fround(sinfPoly(x * SIGN[n & 3], x * x, POLY[(n >> 1) & 1], n));
}

/** glibc cosf for a float32 |y| < 120. */
export function glibcCosf(y: number): number {
  const top = abstop12(y);
  if (top < TOP12_PIO4) {
    if (top < TOP12_TINY) return 1;
    return Math.fround(sinfPoly(y, y * y, POLY[0], 1));
  }
  if (top >= TOP12_120) outOfRange(y);
  const n = (Math.trunc(y * HPI_INV) + 0x800000) >> 24;
  const x = y - n * HPI;
  return Math.fround(sinfPoly(x * SIGN[n & 3], x * x, POLY[(n >> 1) & 1], n ^ 1));
}
