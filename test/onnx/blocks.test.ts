/**
 * Whole SD1 blocks: reverse-mode gradients match float64 finite differences to ≤ 1e-6 (max over
 * checked coordinates of |AD − FD| / max|AD|), and the float32 graph with the real op set agrees
 * with the float64 one to ≤ 1e-4. Attention recomputation changes memory, not results.
 */
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/onnx/builder.js';
import { grad } from '../../src/onnx/grad.js';
import { encodeModel } from '../../src/onnx/serialize.js';
import { createSession } from '../../src/onnx/session.js';
import { checkGrad, feedsFor, type GradCase, randn } from './harness.js';
import { resBlock, transformer, weightMaker } from './sd-like-blocks.js';

const dims = { groups: 4, heads: 2 };

const resCase: GradCase = {
  inputs: { x: { shape: [2, 8, 4, 4] }, temb: { shape: [2, 12] } },
  wrt: ['x', 'temb'],
  build: (b, x, dtype) =>
    b.scope('input_blocks.1.0', () => resBlock(b, weightMaker(b, dtype, 1), x.x, x.temb, 16, dims)),
};

const transformerCase = (recompute: boolean, chunks = 1): GradCase => ({
  inputs: {
    x: { shape: [2, 16, 3, 3] },
    context: { shape: [2, 5, 12] },
    xi_k: { shape: [16, 12], data: Float64Array.from(randn(31, 192, 0.1, 1)) },
    xi_v: { shape: [16, 12], data: Float64Array.from(randn(32, 192, 0.1, 1)) },
  },
  wrt: ['xi_k', 'xi_v', 'x'],
  build: (b, x, dtype) =>
    b.scope('input_blocks.1.1', () =>
      transformer(b, weightMaker(b, dtype, 2), x.x, x.context, {
        ...dims,
        xiK: x.xi_k,
        xiV: x.xi_v,
        recompute,
        chunks,
      }),
    ),
});

describe('whole-block gradients', () => {
  it('ResBlock with time embedding: float64 AD = FD to 1e-6, float32 = float64 to 1e-4', async () => {
    const r = await checkGrad(resCase, { coords: 16 });
    if (process.env.GRAD_REPORT) console.log(JSON.stringify(r));
    expect(r.maxRelErr).toBeLessThan(1e-6);
    expect(r.directionalRelErr).toBeLessThan(1e-6);
    expect(r.f32RelErr).toBeLessThan(1e-4);
  });

  it('Transformer block (self-attn, ξ-scaled cross-attn K/V, GEGLU): float64 AD = FD to 1e-6, float32 = float64 to 1e-4', async () => {
    const r = await checkGrad(transformerCase(true), { coords: 16 });
    if (process.env.GRAD_REPORT) console.log(JSON.stringify(r));
    expect(r.maxRelErr).toBeLessThan(1e-6);
    expect(r.directionalRelErr).toBeLessThan(1e-6);
    expect(r.f32RelErr).toBeLessThan(1e-4);
  });

  it('recomputing attention in the backward (whole or in query chunks) gives the same gradients and keeps no probabilities for it', async () => {
    const c = [transformerCase(false), transformerCase(true), transformerCase(true, 4)];
    const values: Record<string, Float64Array> = {};
    Object.entries(c[0].inputs).forEach(([name, spec], i) => {
      values[name] =
        spec.data ??
        randn(
          100 + i,
          spec.shape.reduce((p, d) => p * d, 1),
        );
    });
    const results = [];
    for (const gc of c) {
      const b = new Builder('t');
      const x = Object.fromEntries(
        Object.entries(gc.inputs).map(([n, s]) => [n, b.input(n, 'float32', s.shape)]),
      );
      const y = gc.build(b, x, 'float32') as ReturnType<typeof b.add>;
      const loss = b.mse(
        y,
        b.constant(
          'float32',
          y.shape,
          Float32Array.from(
            randn(
              5,
              y.shape.reduce((p, d) => p * d, 1),
            ),
          ),
        ),
      );
      grad(b, loss, [x.xi_k, x.xi_v]);
      const probs = b.graph.nodes.filter((n) => n.op === 'Softmax').map((n) => n.outputs[0]);
      const users = (name: string) => b.graph.nodes.filter((n) => n.inputs.includes(name)).map((n) => n.op);
      results.push({ graph: b.graph, probs, users });
      const s = await createSession(encodeModel(b.graph), { executionProvider: 'cpu', threads: 1 });
      const out = await s.run(feedsFor(gc, 'float32', values));
      results[results.length - 1] = { ...results[results.length - 1], out };
      await s.release();
    }
    const [plain, recomputed, chunked] = results as any[];
    // Without recompute the backward reads the forward probabilities (Softmax rule, P·V rule).
    expect(plain.probs.some((p: string) => plain.users(p).length > 1)).toBe(true);
    // With recompute every forward Softmax output feeds only its forward MatMul; the backward uses a
    // re-emitted Softmax instead.
    const forwardProbs = recomputed.probs.filter((p: string) => !p.includes('recomputed'));
    for (const p of forwardProbs) expect(recomputed.users(p)).toEqual(['MatMul']);
    expect(recomputed.probs.length).toBeGreaterThan(forwardProbs.length);
    for (const p of chunked.probs.filter((p: string) => !p.includes('recomputed')))
      expect(chunked.users(p)).toEqual(['MatMul']);
    for (const name of ['grad.xi_k', 'grad.xi_v']) {
      const a = plain.out[name].data as Float32Array;
      const max = Math.max(...Array.from(a, Math.abs));
      for (const other of [recomputed, chunked]) {
        const r = other.out[name].data as Float32Array;
        const diff = Math.max(...Array.from(a, (v, i) => Math.abs(v - r[i])));
        // Chunks change the order in which dK/dV sum over queries: float32 rounding only.
        expect(diff / max).toBeLessThan(1e-5);
      }
    }
  });
});
