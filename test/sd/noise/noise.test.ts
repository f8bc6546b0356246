import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { avx2Logf } from '../../../src/sd/noise/avx2-math.js';
import { fmaf } from '../../../src/sd/noise/float32-fma.js';
import { glibcCosf, glibcLogf, glibcSinf } from '../../../src/sd/noise/glibc-math.js';
import {
  comfyNoiseSource,
  MT19937,
  prepareNoise,
  seedToUint64,
  TorchGenerator,
} from '../../../src/sd/noise/index.js';

/** Values printed with as many significant digits as the spec's literals (enough to tell S from A). */
const printed = (xs: Float32Array, literals: string[]) =>
  literals.map((lit, i) => Number(xs[i].toPrecision(lit.replace(/^-?0?\.?0*/, '').replace('.', '').length)));
const num = (literals: string[]) => literals.map(Number);
const bitsToFloat = (b: number) => new Float32Array(new Uint32Array([b]).buffer)[0];

describe('MT19937 matches std::mt19937 (SD1_SPEC §6.1)', () => {
  it('seed 0 → 2357136044, 2546248239, 3071714933, 3626093760', () => {
    const mt = new MT19937(0);
    expect([mt.next(), mt.next(), mt.next(), mt.next()]).toEqual([
      2357136044, 2546248239, 3071714933, 3626093760,
    ]);
  });
  it('the 10000th output of the default seed 5489 is 4123659995 (C++ standard requirement)', () => {
    const mt = new MT19937();
    let v = 0;
    for (let i = 0; i < 10000; i++) v = mt.next();
    expect(v).toBe(4123659995);
  });
});

describe('torch seeds', () => {
  it('negative seeds wrap to uint64 and only the low 32 bits seed the engine', () => {
    expect(seedToUint64(-1)).toBe((1n << 64n) - 1n);
    expect(seedToUint64('18446744073709551615')).toBe((1n << 64n) - 1n);
    const a = new TorchGenerator(42).randn(20);
    const b = new TorchGenerator(42n + (1n << 32n)).randn(20);
    expect(b).toEqual(a);
  });
  it('rejects seeds outside [-2^63, 2^64-1] and unsafe numbers', () => {
    expect(() => seedToUint64(1n << 64n)).toThrow(RangeError);
    expect(() => seedToUint64(2 ** 60)).toThrow(/bigint/);
    expect(() => seedToUint64('12x')).toThrow(RangeError);
  });
});

describe('float uniforms (SD1_SPEC §6.2)', () => {
  it('seed 0 → 0.49625659, 0.76822180, 0.08847743, 0.13203049', () => {
    const g = new TorchGenerator(0);
    const u = [g.uniformFloat(), g.uniformFloat(), g.uniformFloat(), g.uniformFloat()];
    expect(u.map((x) => x.toFixed(8))).toEqual(['0.49625659', '0.76822180', '0.08847743', '0.13203049']);
  });
});

describe('glibc logf/sinf/cosf model equals glibc on the inputs randn uses', () => {
  const samples = JSON.parse(
    readFileSync(new URL('./fixtures/glibc_float_samples.json', import.meta.url), 'utf8'),
  );
  const fns = { logf: glibcLogf, sinf: glibcSinf, cosf: glibcCosf } as const;
  for (const name of ['logf', 'sinf', 'cosf'] as const) {
    it(`${name}: ${samples[name].length} samples, mostly where float(double libm) is off by one ulp`, () => {
      let mismatches = 0;
      let naiveMismatches = 0;
      const naive = { logf: Math.log, sinf: Math.sin, cosf: Math.cos }[name];
      for (const [inBits, outBits] of samples[name] as [number, number][]) {
        const x = bitsToFloat(inBits);
        const want = bitsToFloat(outBits);
        if (fns[name](x) !== want) mismatches++;
        if (Math.fround(naive(x)) !== want) naiveMismatches++;
      }
      expect(mismatches).toBe(0);
      expect(naiveMismatches).toBeGreaterThan(samples[name].length / 2); // the fixture is a real test
    });
  }
});

describe('single-rounding float32 FMA', () => {
  it('differs from multiply-then-add where the product rounding matters', () => {
    const a = Math.fround(1 + 2 ** -12);
    // a·a = 1 + 2^-11 + 2^-24: the separate product rounds 2^-24 away, the fused one keeps it.
    expect(fmaf(a, a, -1)).toBe(2 ** -11 + 2 ** -24);
    expect(Math.fround(Math.fround(a * a) - 1)).toBe(2 ** -11);
  });
  it('resolves double-rounding midpoints by the exact sum', () => {
    // 1 + 2^-24 is a float32 midpoint; the tiny 2^-60 term decides the direction.
    expect(fmaf(2 ** -30, 2 ** -30, 1 + 2 ** -24)).toBe(1 + 2 ** -23);
    expect(fmaf(-(2 ** -30), 2 ** -30, 1 + 2 ** -24)).toBe(1);
  });
  it('AVX2 log agrees with the true log to float accuracy', () => {
    for (const x of [1, 0.5, 0.75, 0.1, 2 ** -24, 0.999]) {
      expect(Math.abs(avx2Logf(x) - Math.log(x))).toBeLessThan(4e-7 * Math.max(1, Math.abs(Math.log(x))));
    }
  });
});

describe('torch.randn(generator=torch.manual_seed(0)) test vectors (SD1_SPEC Appendix B, §6.4)', () => {
  it('shape (4), element-wise double path: 1.5409961, −0.2934289, −2.1787894, 0.5684313', () => {
    for (const kernel of ['scalar', 'avx2'] as const) {
      const lits = ['1.5409961', '-0.2934289', '-2.1787894', '0.5684313'];
      expect(printed(new TorchGenerator(0).randn(4, kernel), lits)).toEqual(num(lits));
    }
  });
  it('shape (16): variant S and A differ exactly where the spec says', () => {
    const s = ['-1.1258398', '-1.1523602', '-0.2505786', '-0.43387884'];
    const a = ['-1.1258398', '-1.1523602', '-0.2505786', '-0.43387881'];
    expect(printed(new TorchGenerator(0).randn(16, 'scalar'), s)).toEqual(num(s));
    expect(printed(new TorchGenerator(0).randn(16, 'avx2'), a)).toEqual(num(a));
  });
  it('shape (17): element 0 from the first block, then a fresh 16-block', () => {
    const s = ['-1.1258398', '-1.6959313', '0.5666505'];
    const a = ['-1.1258398', '-1.6959312', '0.5666506'];
    expect(printed(new TorchGenerator(0).randn(17, 'scalar'), s)).toEqual(num(s));
    expect(printed(new TorchGenerator(0).randn(17, 'avx2'), a)).toEqual(num(a));
  });
  it('shape (1,4,8,8): first six values', () => {
    const s = ['-1.1258398', '-1.1523602', '-0.2505786', '-0.43387884', '0.8487104', '0.69200921'];
    const a = ['-1.1258398', '-1.1523602', '-0.2505786', '-0.43387881', '0.8487104', '0.69200915'];
    expect(printed(new TorchGenerator(0).randn([1, 4, 8, 8], 'scalar'), s)).toEqual(num(s));
    expect(printed(new TorchGenerator(0).randn([1, 4, 8, 8], 'avx2'), a)).toEqual(num(a));
  });
  it('published torch outputs: manual_seed(42) randn(4,4) and randn(2,3), manual_seed(0) randn(4,4)', () => {
    const r4 = (xs: Float32Array) => Array.from(xs, (v) => Number(v.toFixed(4)));
    expect(r4(new TorchGenerator(42).randn([4, 4]))).toEqual([
      1.9269, 1.4873, 0.9007, -2.1055, 0.6784, -1.2345, -0.0431, -1.6047, -0.7521, 1.6487, -0.3925, -1.4036,
      -0.7279, -0.5594, -0.7688, 0.7624,
    ]);
    expect(r4(new TorchGenerator(42).randn([2, 3]))).toEqual([
      0.3367, 0.1288, 0.2345, 0.2303, -1.1229, -0.1863,
    ]);
    expect(r4(new TorchGenerator(0).randn([4, 4]))).toEqual([
      -1.1258, -1.1524, -0.2506, -0.4339, 0.8487, 0.692, -0.316, -2.1152, 0.3223, -1.2633, 0.35, 0.3081,
      0.1198, 1.2377, 1.1168, -0.2473,
    ]);
  });
  it('the n < 16 path keeps its cached second Box–Muller value across calls until reseeded', () => {
    const g = new TorchGenerator(0);
    const six = Array.from(new TorchGenerator(0).randn(6));
    // randn(3) leaves sin of the second pair cached; the next call starts with it.
    expect([...g.randn(3), ...g.randn(3)]).toEqual(six);
    g.randn(1); // caches a value …
    g.manualSeed(0); // … which manual_seed discards
    expect(Array.from(g.randn(3))).toEqual(six.slice(0, 3));
  });
  it('a large latent is standard normal (mean ≈ 0, var ≈ 1)', () => {
    const x = new TorchGenerator(1234).randn([1, 4, 64, 64]);
    let s = 0;
    let s2 = 0;
    for (const v of x) {
      s += v;
      s2 += v * v;
    }
    expect(Math.abs(s / x.length)).toBeLessThan(0.03);
    expect(Math.abs(s2 / x.length - 1)).toBeLessThan(0.05);
  });
});

describe("ComfyUI's noise (Addendum D.1; ancestral seeding as in current ComfyUI)", () => {
  it('prepare_noise draws the whole batch in one randn call', () => {
    const n = prepareNoise(7, [2, 4, 8, 8]);
    expect(n).toEqual(new TorchGenerator(7).randn(512));
    expect(n.subarray(256)).not.toEqual(new TorchGenerator(7).randn(256));
  });
  it('batch indices draw one [1,C,H,W] per index and pick the listed ones', () => {
    const g = new TorchGenerator(7);
    const d0 = g.randn([1, 4, 8, 8]);
    g.randn([1, 4, 8, 8]);
    const d2 = g.randn([1, 4, 8, 8]);
    const n = prepareNoise(7, [2, 4, 8, 8], { batchIndices: [2, 0] });
    expect(n.subarray(0, 256)).toEqual(d2);
    expect(n.subarray(256)).toEqual(d0);
  });
  it('the ancestral noise source draws from a generator seeded with seed + 1 (current ComfyUI on CPU)', () => {
    const src = comfyNoiseSource(99n);
    const a = new Float32Array(256);
    const b = new Float32Array(256);
    src(a);
    src(b);
    const g = new TorchGenerator(100);
    expect(a).toEqual(g.randn([1, 4, 8, 8]));
    expect(b).toEqual(g.randn([1, 4, 8, 8]));
    expect(a).not.toEqual(prepareNoise(99n, [1, 4, 8, 8])); // no longer repeats the initial noise
    const wrap = new Float32Array(16);
    comfyNoiseSource((1n << 64n) - 1n)(wrap);
    expect(wrap).toEqual(new TorchGenerator(0).randn(16));
  });
});
