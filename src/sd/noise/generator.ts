/**
 * PyTorch's CPU generator and `torch.randn` for float32 tensors, bit for bit (SD1_SPEC §6):
 * MT19937 seeded with the low 32 bits of the uint64 seed, 24-bit float uniforms, the 16-block
 * Box–Muller of `normal_fill` (pairs (j, j+8), fresh 16 uniforms for a ragged tail) for n ≥ 16,
 * and the element-wise double Box–Muller with a cached second value for n < 16.
 */
import { avx2Logf, avx2SinCosf } from './avx2-math.js';
import { glibcCosf, glibcLogf, glibcSinf } from './glibc-math.js';
import { MT19937 } from './mt19937.js';

/**
 * Which of torch's two float kernels made the reference noise:
 * - `scalar`: the DEFAULT/AVX-512 dispatch (Linux x86 CPUs with AVX-512, ARM, any build forced to
 *   `ATEN_CPU_CAPABILITY=default`), with glibc's logf/sinf/cosf;
 * - `avx2`: the AVX2 kernel (x86 CPUs with AVX2 but no AVX-512), GCC's FMA fusion pattern.
 * The two differ by ≤ 2e-6 on ~39 % of elements; either is visually identical.
 */
export type RandnKernel = 'scalar' | 'avx2';

export type Seed = bigint | number | string;

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);

/**
 * A seed as torch stores it (uint64): integers in [−2⁶³, 2⁶⁴ − 1]; negatives wrap in two's
 * complement (−1 → 2⁶⁴ − 1). Numbers must be safe integers — pass larger seeds as bigint or
 * decimal strings (ComfyUI seeds go up to 2⁶⁴ − 1, beyond JS number precision).
 */
export function seedToUint64(seed: Seed): bigint {
  let s: bigint;
  if (typeof seed === 'bigint') s = seed;
  else if (typeof seed === 'number') {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`seed ${seed} is not a safe integer; pass it as a bigint or decimal string`);
    }
    s = BigInt(seed);
  } else {
    if (!/^\s*-?\d+\s*$/.test(seed)) throw new RangeError(`seed "${seed}" is not an integer`);
    s = BigInt(seed.trim());
  }
  if (s > U64_MAX || s < I64_MIN) throw new RangeError(`seed ${s} is outside [-2^63, 2^64 - 1]`);
  return BigInt.asUintN(64, s);
}

const TWO_PI = 2 * Math.PI; // c10::pi<double> · 2, exactly 6.283185307179586
const TWO_PI_F32 = Math.fround(TWO_PI);
const P24 = 2 ** -24;
const P32 = 2 ** 32;
const P53 = 2 ** -53;

/** torch.Generator (CPU): `manualSeed`, 32/64-bit outputs, uniforms and float32 `randn`. */
export class TorchGenerator {
  private readonly engine = new MT19937();
  private cachedNormal: number | undefined;
  private sincos = new Float64Array(2);
  private seedValue = 67280421310721n; // torch's default_rng_seed_val

  constructor(seed?: Seed) {
    this.manualSeed(seed ?? this.seedValue);
  }

  /** torch.manual_seed: resets the engine and the cached normal. */
  manualSeed(seed: Seed): this {
    this.seedValue = seedToUint64(seed);
    this.engine.seed(Number(this.seedValue & 0xffffffffn));
    this.cachedNormal = undefined;
    return this;
  }

  initialSeed(): bigint {
    return this.seedValue;
  }

  /** One 32-bit output. */
  random(): number {
    return this.engine.next();
  }

  /** float uniform in [0, 1): low 24 bits of one output. */
  uniformFloat(): number {
    return (this.engine.next() & 0xffffff) * P24;
  }

  /** double uniform in [0, 1): low 53 bits of random64() (first output is the high word). */
  uniformDouble(): number {
    const hi = this.engine.next() & 0x1fffff;
    const lo = this.engine.next();
    return (hi * P32 + lo) * P53;
  }

  /** `torch.randn(shape, dtype=float32, generator=this)` on CPU. */
  randn(shape: number | readonly number[], kernel: RandnKernel = 'scalar'): Float32Array {
    const dims = typeof shape === 'number' ? [shape] : shape;
    let n = 1;
    for (const d of dims) {
      if (!Number.isInteger(d) || d < 0) throw new RangeError(`randn: bad shape [${dims.join(', ')}]`);
      n *= d;
    }
    const out = new Float32Array(n);
    this.randnInto(out, kernel);
    return out;
  }

  /** Fills `out` as one randn call of out.length elements. */
  randnInto(out: Float32Array, kernel: RandnKernel = 'scalar'): void {
    const n = out.length;
    if (n < 16) {
      for (let i = 0; i < n; i++) out[i] = this.normalDouble();
      return;
    }
    for (let i = 0; i < n; i++) out[i] = this.uniformFloat();
    const fill16 = kernel === 'avx2' ? this.fill16Avx2 : this.fill16Scalar;
    for (let i = 0; i + 16 <= n; i += 16) fill16.call(this, out, i);
    if (n % 16 !== 0) {
      const start = n - 16;
      for (let i = 0; i < 16; i++) out[start + i] = this.uniformFloat();
      fill16.call(this, out, start);
    }
  }

  /** at::normal_distribution<double> with the generator's cached second value. */
  private normalDouble(): number {
    if (this.cachedNormal !== undefined) {
      const v = this.cachedNormal;
      this.cachedNormal = undefined;
      return v;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = TWO_PI * u1;
    this.cachedNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  private fill16Scalar(data: Float32Array, i: number): void {
    for (let j = 0; j < 8; j++) {
      const u1 = 1 - data[i + j];
      const u2 = data[i + j + 8];
      const radius = Math.fround(Math.sqrt(Math.fround(-2 * glibcLogf(u1))));
      const theta = Math.fround(TWO_PI * u2);
      data[i + j] = radius * glibcCosf(theta);
      data[i + j + 8] = radius * glibcSinf(theta);
    }
  }

  private fill16Avx2(data: Float32Array, i: number): void {
    const sc = this.sincos;
    for (let j = 0; j < 8; j++) {
      const u1 = 1 - data[i + j];
      const u2 = data[i + j + 8];
      const radius = Math.fround(Math.sqrt(Math.fround(-2 * avx2Logf(u1))));
      avx2SinCosf(Math.fround(TWO_PI_F32 * u2), sc);
      data[i + j] = radius * sc[1];
      data[i + j + 8] = radius * sc[0];
    }
  }
}
