import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/onnx/builder.js';
import { float16ToFloat32, float32ToFloat16, fromFloat16Bits, toFloat16Bits } from '../../src/onnx/dtype.js';
import { grad } from '../../src/onnx/grad.js';
import { encodeModel } from '../../src/onnx/serialize.js';
import { createSession } from '../../src/onnx/session.js';

describe('builder', () => {
  it('names weights and values after the module path given by scopes', () => {
    const b = new Builder();
    const x = b.input('tokens', 'float32', [1, 4, 8]);
    const y = b.scope('input_blocks', () =>
      b.scope(1, () =>
        b.scope(1, () =>
          b.scope('transformer_blocks.0.attn2', () =>
            b.scope('to_k', () => b.linear(x, b.param('weight', new Float32Array(64), [8, 8]))),
          ),
        ),
      ),
    );
    expect(b.graph.initializers.has('input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight')).toBe(true);
    expect(y.name).toBe('input_blocks.1.1.transformer_blocks.0.attn2.to_k.linear');
    expect(y.shape).toEqual([1, 4, 8]);
  });

  it('keeps weight arrays by reference (no copy) and de-duplicates constants by content', () => {
    const b = new Builder();
    const data = new Float32Array(1 << 20);
    const w = b.param('big', data, [1024, 1024]);
    expect(b.graph.initializers.get(w.name)!.data).toBe(data);
    const c1 = b.constant('float32', [3], [1, 2, 3]);
    const c2 = b.constant('float32', [3], [1, 2, 3]);
    const c3 = b.constant('float64', [3], [1, 2, 3]);
    expect(c2).toBe(c1);
    expect(c3).not.toBe(c1);
    expect(b.int64s([0, 2])).toBe(b.int64s([0, 2]));
  });

  it('infers shapes and rejects mismatches with a clear message', () => {
    const b = new Builder();
    const x = b.input('x', 'float32', [2, 3, 8, 8]);
    expect(
      b.conv2d(x, b.param('w', new Float32Array(5 * 3 * 9), [5, 3, 3, 3]), undefined, {
        stride: 2,
        pads: [0, 0, 1, 1],
      }).shape,
    ).toEqual([2, 5, 4, 4]);
    expect(
      b.conv2d(x, b.param('w2', new Float32Array(5 * 3 * 9), [5, 3, 3, 3]), undefined, { stride: 2 }).shape,
    ).toEqual([2, 5, 4, 4]);
    expect(b.upsampleNearest2x(x).shape).toEqual([2, 3, 16, 16]);
    expect(b.reshape(x, [2, -1]).shape).toEqual([2, 192]);
    expect(b.slice(x, [1], [7], [3], [2]).shape).toEqual([2, 3, 8, 3]);
    expect(b.add(x, b.input('y', 'float32', [3, 1, 1])).shape).toEqual([2, 3, 8, 8]);
    expect(() => b.add(x, b.input('z', 'float32', [4, 1, 1]))).toThrow(/do not broadcast/);
    expect(() => b.matmul(x, b.input('m', 'float32', [7, 2]))).toThrow(/inner dimensions differ/);
    expect(() => b.add(x, b.input('d', 'float64', [1]))).toThrow(/dtypes differ/);
    expect(() => b.param('bad', new Float32Array(3), [2, 2])).toThrow(/needs 4 elements/);
    expect(() => b.groupNorm(x, x, x, 2, 1e-5)).toThrow(/do not split/);
  });

  it('dumps op counts and a listing with shapes', () => {
    const b = new Builder('demo');
    const x = b.input('x', 'float32', [2, 4]);
    b.output(b.silu(b.mul(x, 2)), 'y');
    const text = b.dump();
    expect(b.opCounts()).toEqual({ Mul: 2, Sigmoid: 1, Identity: 1 });
    expect(text).toContain('graph demo: 4 nodes');
    expect(text).toMatch(/Sigmoid\(mul:float32\[2,4\]\)/);
    expect(text).toContain('output y:float32[2,4]');
  });

  it('grad differentiates only the path from wrt to the loss and sums multi-use gradients', async () => {
    const b = new Builder();
    const x = b.input('x', 'float32', [3]);
    const frozen = b.input('frozen', 'float32', [3]);
    const side = b.exp(frozen); // not on a path from x: no rule applied
    const y = b.add(b.mul(x, x), b.mul(x, side)); // x used three times
    const loss = b.reduceSum(y, [0], false);
    const before = b.graph.nodes.length;
    const [gx] = grad(b, loss, [x]);
    const backward = b.graph.nodes.slice(before);
    expect(backward.some((n) => n.op === 'Exp')).toBe(false);
    const s = await createSession(encodeModel(b.graph), { executionProvider: 'cpu' });
    const out = await s.run({
      x: { dtype: 'float32', shape: [3], data: Float32Array.from([1, 2, 3]) },
      frozen: { dtype: 'float32', shape: [3], data: Float32Array.from([0, 0, 0]) },
    });
    expect(Array.from(out[gx.name].data as Float32Array)).toEqual([3, 5, 7]); // 2x + e^0
    await s.release();
  });
});

describe('float16 conversion', () => {
  it('rounds to nearest even and handles subnormals, overflow and NaN', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(65520)).toBe(0x7c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(2 ** -24)).toBe(1);
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(Number.NaN)))).toBe(true);
    const xs = [0, 0.1, -3.25, 1e-5, 1000.5];
    const back = float16ToFloat32(float32ToFloat16(xs));
    xs.forEach((v, i) => {
      expect(Math.abs(back[i] - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 2 ** -25);
    });
  });
});

describe('attention memory policy', () => {
  const softmaxes = (recompute: boolean, batch: number, tokens: number, chunks?: number | 'auto') => {
    const b = new Builder();
    const q = b.input('q', 'float32', [batch, tokens, 64]);
    b.output(b.attention(q, q, q, 8, { recompute, chunks }), 'o');
    return b.graph.nodes.filter((n) => n.op === 'Softmax').length;
  };

  it('with recompute, splits queries so one chunk of scores stays within 256 MiB by default', () => {
    expect(softmaxes(true, 1, 1024)).toBe(1); // 32 MiB of scores
    expect(softmaxes(true, 1, 4096)).toBe(2); // 512 MiB → 2 chunks
    expect(softmaxes(true, 4, 4096)).toBe(8); // 2 GiB → 8 chunks
    expect(softmaxes(false, 4, 4096)).toBe(1); // no recompute: one softmax unless asked
    expect(softmaxes(false, 4, 4096, 3)).toBe(3);
    expect(softmaxes(true, 4, 4096, 1)).toBe(1);
  });
});
