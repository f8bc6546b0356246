/**
 * Every op's gradient rule against float64 central finite differences (graphs lowered where ORT CPU
 * has no float64 kernel), and the float32 real-op graph against float64.
 *
 * Tolerances: with h = 1e-5, central differences are off by O(h²·f''') ≈ 1e-10 and by rounding
 * ≈ 1e-16·|L|/h ≈ 1e-11, so a correct rule lands near 1e-9 relative; 1e-6 flags any wrong term
 * (a missing factor or transposition gives errors of order 1). float32 accumulates ~1e-7 per op, so
 * 1e-4 relative to max|g| is loose for these few-op graphs yet still catches a float32-only bug.
 */
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/onnx/builder.js';
import { ONNX_DTYPE } from '../../src/onnx/dtype.js';
import { grad } from '../../src/onnx/grad.js';
import type { Value } from '../../src/onnx/ir.js';
import { nearestSourceIndices } from '../../src/onnx/ops/shape.js';
import { encodeModel } from '../../src/onnx/serialize.js';
import { createSession } from '../../src/onnx/session.js';
import { checkGrad, type GradCase, randn } from './harness.js';

const FD_TOL = 1e-6;
const F32_TOL = 1e-4;

const positive = (n: number, seed: number) => Float64Array.from(randn(seed, n), (v) => 0.5 + Math.abs(v));

const cases: Record<string, GradCase> = {
  'Add/Sub/Mul/Div with broadcasting': {
    inputs: {
      a: { shape: [2, 3, 4] },
      b: { shape: [3, 1] },
      c: { shape: [4] },
      d: { shape: [1, 3, 1], data: positive(3, 5) },
    },
    wrt: ['a', 'b', 'c', 'd'],
    build: (b, x) => b.div(b.mul(b.sub(b.add(x.a, x.b), x.c), b.add(x.a, x.c)), x.d),
  },
  'Pow with a constant exponent, Sqrt, Reciprocal': {
    inputs: { x: { shape: [3, 4], data: positive(12, 3) } },
    wrt: ['x'],
    build: (b, x) => [b.pow(x.x, 2.5), b.sqrt(x.x), b.reciprocal(x.x)],
  },
  'Neg, Exp, Tanh, Sigmoid, Cos, Sin': {
    inputs: { x: { shape: [2, 5] } },
    wrt: ['x'],
    build: (b, x) => [b.neg(x.x), b.exp(x.x), b.tanh(x.x), b.sigmoid(x.x), b.cos(x.x), b.sin(x.x)],
  },
  'Erf (lowered to a series + continued fraction in float64)': {
    inputs: { x: { shape: [4, 6], data: Float64Array.from(randn(4, 24), (v) => 1.8 * v) } },
    wrt: ['x'],
    build: (b, x) => b.erf(x.x),
  },
  'SiLU, exact GELU, QuickGELU': {
    inputs: { x: { shape: [3, 7] } },
    wrt: ['x'],
    build: (b, x) => [b.silu(x.x), b.gelu(x.x), b.quickGelu(x.x)],
  },
  'Where (causal mask) and Cast': {
    inputs: { x: { shape: [4, 4] } },
    wrt: ['x'],
    build: (b, x) => {
      const mask = b.constant('bool', [4, 4], [1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1]);
      const masked = b.where(mask, x.x, -1e4);
      return b.softmax(b.cast(b.cast(masked, 'float64'), x.x.dtype));
    },
  },
  'Cast (an explicit same-type Cast node, so the rule runs in float64 too)': {
    inputs: { x: { shape: [3, 4] } },
    wrt: ['x'],
    build: (b, x) =>
      b.tanh(
        b.emit1('Cast', [x.x], { dtype: x.x.dtype, shape: x.x.shape }, { to: { i: ONNX_DTYPE[x.x.dtype] } }),
      ),
  },
  'MatMul with batch broadcasting': {
    inputs: { a: { shape: [2, 3, 4, 5] }, b: { shape: [3, 5, 2] } },
    wrt: ['a', 'b'],
    build: (b, x) => b.matmul(x.a, x.b),
  },
  'MatMul by a 2-D right operand (∂x as one Gemm with transB)': {
    inputs: { a: { shape: [2, 3, 4, 5] }, w: { shape: [5, 3] } },
    wrt: ['a', 'w'],
    build: (b, x) => b.matmul(x.a, x.w),
  },
  'Linear with weight and bias gradients': {
    inputs: { x: { shape: [2, 3, 6] }, w: { shape: [4, 6] }, bias: { shape: [4] } },
    wrt: ['x', 'w', 'bias'],
    build: (b, x) => b.linear(x.x, x.w, x.bias),
  },
  'Conv 1×1': {
    inputs: { x: { shape: [2, 3, 4, 4] }, w: { shape: [5, 3, 1, 1] }, bias: { shape: [5] } },
    wrt: ['x', 'w', 'bias'],
    build: (b, x) => b.conv2d(x.x, x.w, x.bias),
  },
  'Conv 3×3 stride 1 pad 1': {
    inputs: { x: { shape: [1, 3, 5, 4] }, w: { shape: [4, 3, 3, 3] }, bias: { shape: [4] } },
    wrt: ['x', 'w', 'bias'],
    build: (b, x) => b.conv2d(x.x, x.w, x.bias),
  },
  'Conv 3×3 stride 2 symmetric pad (UNet), even H': {
    inputs: { x: { shape: [1, 2, 6, 6] }, w: { shape: [3, 2, 3, 3] }, bias: { shape: [3] } },
    wrt: ['x', 'w', 'bias'],
    build: (b, x) => b.conv2d(x.x, x.w, x.bias, { stride: 2, pads: [1, 1, 1, 1] }),
  },
  'Conv 3×3 stride 2 symmetric pad, odd H': {
    inputs: { x: { shape: [1, 2, 7, 5] }, w: { shape: [3, 2, 3, 3] } },
    wrt: ['x', 'w'],
    build: (b, x) => b.conv2d(x.x, x.w, undefined, { stride: 2, pads: [1, 1, 1, 1] }),
  },
  'Conv 3×3 stride 2 right/bottom pad (VAE)': {
    inputs: { x: { shape: [2, 2, 6, 6] }, w: { shape: [3, 2, 3, 3] }, bias: { shape: [3] } },
    wrt: ['x', 'w', 'bias'],
    build: (b, x) => b.conv2d(x.x, x.w, x.bias, { stride: 2, pads: [0, 0, 1, 1] }),
  },
  GroupNorm: {
    inputs: {
      x: { shape: [2, 6, 3, 3], data: randn(8, 108, 2, 3) },
      gamma: { shape: [6] },
      beta: { shape: [6] },
    },
    wrt: ['x', 'gamma', 'beta'],
    build: (b, x) => b.groupNorm(x.x, x.gamma, x.beta, 3, 1e-5),
  },
  LayerNormalization: {
    inputs: {
      x: { shape: [2, 3, 8], data: randn(9, 48, 1.5, -1) },
      scale: { shape: [8] },
      bias: { shape: [8] },
    },
    wrt: ['x', 'scale', 'bias'],
    build: (b, x) => b.layerNorm(x.x, x.scale, x.bias, 1e-5),
  },
  Softmax: {
    inputs: { x: { shape: [2, 3, 5] } },
    wrt: ['x'],
    build: (b, x) => [b.softmax(x.x, -1), b.softmax(x.x, 1)],
  },
  'Resize nearest ×2': {
    inputs: { x: { shape: [1, 2, 3, 4] } },
    wrt: ['x'],
    build: (b, x) => b.upsampleNearest2x(x.x),
  },
  'Gather on an inner axis with repeated indices (nearest resize 2×3 → 3×5)': {
    inputs: { x: { shape: [2, 3, 2, 3] } },
    wrt: ['x'],
    build: (b, x) => b.resizeNearest(x.x, [3, 5]),
  },
  'Gather on axis 1 with a 2-D index': {
    inputs: {
      x: { shape: [2, 4, 3] },
      ids: { shape: [2, 2], dtype: 'int64', data: Float64Array.from([3, 0, 3, 1]) },
    },
    wrt: ['x'],
    build: (b, x) => b.gather(x.x, x.ids, 1),
  },
  'Concat, Split (one part unused), Slice, Pad': {
    inputs: { a: { shape: [2, 3, 4] }, b: { shape: [2, 2, 4] } },
    wrt: ['a', 'b'],
    build: (b, x) => {
      const c = b.concat([x.a, x.b], 1);
      const [p0, , p2] = b.split(c, [1, 2, 2], 1);
      return [b.pad(p0, [0, 1, 0, 0, 2, 1]), b.slice(p2, [1], [3], [2])];
    },
  },
  'Reshape, Transpose, Expand, Identity': {
    inputs: { x: { shape: [2, 6] }, y: { shape: [3, 1] } },
    wrt: ['x', 'y'],
    build: (b, x) => [
      b.transpose(b.reshape(x.x, [2, 3, 2]), [2, 0, 1]),
      b.identity(b.expand(x.y, [2, 3, 4])),
    ],
  },
  'Gather (embedding rows, repeated index)': {
    inputs: {
      table: { shape: [5, 3] },
      ids: { shape: [2, 3], dtype: 'int64', data: Float64Array.from([0, 2, 2, 4, 1, 2]) },
    },
    wrt: ['table'],
    build: (b, x) => b.gather(x.table, x.ids, 0),
  },
  'Gather with int32 ids (CLIP token embedding table, weight gradient)': {
    inputs: {
      table: { shape: [6, 4] },
      ids: { shape: [2, 3], dtype: 'int32', data: Float64Array.from([5, 0, 5, 2, 2, 1]) },
    },
    wrt: ['table'],
    build: (b, x) =>
      b.layerNorm(
        b.gather(x.table, x.ids, 0),
        b.constant(x.table.dtype, [4], [1, 2, 3, 4]),
        b.constant(x.table.dtype, [4], [0, 0, 0, 0]),
        1e-5,
      ),
  },
  'Abs (L1 reconstruction loss), inputs away from 0': {
    inputs: { x: { shape: [3, 5], data: Float64Array.from(randn(12, 15), (v) => v + Math.sign(v) * 0.1) } },
    wrt: ['x'],
    build: (b, x) => b.abs(x.x),
  },
  'ReduceMean and ReduceSum': {
    inputs: { x: { shape: [2, 3, 4] } },
    wrt: ['x'],
    build: (b, x) => [b.reduceMean(x.x, [1, 2], false), b.reduceSum(x.x, [0], true)],
  },
  'Attention (recomputed in the backward) with an additive causal mask': {
    inputs: { q: { shape: [2, 4, 6] }, k: { shape: [2, 4, 6] }, v: { shape: [2, 4, 6] } },
    wrt: ['q', 'k', 'v'],
    build: (b, x) => {
      const m = new Array<number>(16).fill(0).map((_, i) => (i % 4 > Math.floor(i / 4) ? -1e9 : 0));
      return b.attention(x.q, x.k, x.v, 2, { mask: b.constant(x.q.dtype, [4, 4], m), recompute: true });
    },
  },
  'Attention in 3 query chunks (exact), each recomputed, with a causal mask': {
    inputs: { q: { shape: [1, 5, 4] }, k: { shape: [1, 5, 4] }, v: { shape: [1, 5, 4] } },
    wrt: ['q', 'k', 'v'],
    build: (b, x) => {
      const m = new Array<number>(25).fill(0).map((_, i) => (i % 5 > Math.floor(i / 5) ? -1e9 : 0));
      const mask = b.constant(x.q.dtype, [5, 5], m);
      return b.attention(x.q, x.k, x.v, 2, { mask, recompute: true, chunks: 3 });
    },
  },
  GEGLU: {
    inputs: { x: { shape: [1, 3, 4] }, w: { shape: [10, 4] }, bias: { shape: [10] } },
    wrt: ['x', 'w', 'bias'],
    build: (b: Builder, x: Record<string, Value>) => b.geglu(x.x, x.w, x.bias),
  },
  'Time embedding: Exp, Cos/Sin of t·freq, Concat': {
    inputs: { t: { shape: [2, 1], data: Float64Array.from([3.5, 0.25]) } },
    wrt: ['t'],
    build: (b, x) => {
      const freq = b.exp(b.mul(b.constant(x.t.dtype, [1, 4], [0, 1, 2, 3]), -Math.log(10000) / 4));
      const arg = b.mul(x.t, freq);
      return b.concat([b.cos(arg), b.sin(arg)], 1);
    },
  },
};

describe('gradient rules agree with float64 finite differences', () => {
  for (const [name, c] of Object.entries(cases)) {
    it(name, async () => {
      const r = await checkGrad(c);
      if (process.env.GRAD_REPORT) console.log(name, JSON.stringify(r));
      expect(r.coordsChecked).toBeGreaterThan(0);
      expect(r.maxRelErr).toBeLessThan(FD_TOL);
      expect(r.directionalRelErr).toBeLessThan(FD_TOL);
      expect(r.f32RelErr).toBeLessThan(F32_TOL);
    });
  }
});

describe('nearest resize to a size (PyTorch legacy nearest, F.interpolate(size=…))', () => {
  it('takes source index min(⌊d · in/out⌋, in − 1) with float32 arithmetic', () => {
    expect(nearestSourceIndices(2, 3)).toEqual([0, 0, 1]);
    expect(nearestSourceIndices(3, 6)).toEqual([0, 0, 1, 1, 2, 2]);
    expect(nearestSourceIndices(1, 2)).toEqual([0, 0]);
    expect(nearestSourceIndices(5, 9)).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4]);
    // 37 · 12/74 is exactly 6 in real arithmetic; float32 gives 5.9999995, so ATen (and we) take 5.
    expect(nearestSourceIndices(12, 74)[37]).toBe(5);
  });

  it('keeps the single ×2 Resize node for exact doubling and gathers otherwise', () => {
    const b = new Builder('resize');
    const x = b.input('x', 'float32', [1, 2, 3, 4]);
    expect(b.resizeNearest(x, [6, 8]).shape).toEqual([1, 2, 6, 8]);
    expect(b.opCounts()).toEqual({ Resize: 1 });
    const y = b.resizeNearest(x, [5, 8]);
    expect(y.shape).toEqual([1, 2, 5, 8]);
    expect(b.opCounts()).toEqual({ Resize: 1, Gather: 2 });
    expect(b.resizeNearest(x, [3, 7]).shape).toEqual([1, 2, 3, 7]);
    expect(b.opCounts()).toEqual({ Resize: 1, Gather: 3 });
  });

  it('runs on ORT with those indices', async () => {
    const b = new Builder('resize');
    const x = b.input('x', 'float32', [1, 1, 3, 2]);
    b.output(b.resizeNearest(x, [5, 3]), 'y');
    const s = await createSession(encodeModel(b.graph), { executionProvider: 'cpu', threads: 1 });
    try {
      const y = await s.run({
        x: { dtype: 'float32', shape: [1, 1, 3, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      });
      expect(y.y.shape).toEqual([1, 1, 5, 3]);
      // rows [0, 0, 1, 1, 2], columns [0, 0, 1]
      expect(Array.from(y.y.data as Float32Array)).toEqual([1, 1, 2, 1, 1, 2, 3, 3, 4, 3, 3, 4, 5, 5, 6]);
    } finally {
      await s.release();
    }
  });
});

describe('∂x through a constant weight reads the weight in place', () => {
  it('emits no Transpose of a weight initializer (ORT would constant-fold it into a private copy of the weight)', () => {
    const b = new Builder('matmul_weight_grad');
    const x = b.input('x', 'float32', [2, 3, 4]);
    const w = b.initializer(
      'w',
      new Float32Array(4 * 5).map((_, i) => Math.sin(i)),
      [4, 5],
    );
    const y = b.matmul(b.tanh(x), w);
    const loss = b.reduceSum(b.mul(y, y), [0, 1, 2], false);
    grad(b, loss, [x], { names: ['grad_x'] });
    const readers = b.graph.nodes.filter((n) => n.inputs.includes(w.name));
    expect(readers.map((n) => n.op).sort()).toEqual(['Gemm', 'MatMul']);
    const gemm = readers.find((n) => n.op === 'Gemm')!;
    expect(gemm.attrs.transB).toEqual({ i: 1 });
  });
});
