/**
 * SD1-architecture blocks (ResBlock with time embedding, Transformer2D with self-attention,
 * ξ-scaled cross-attention K/V and GEGLU) built with random weights, for the whole-block gradient
 * tests and the engine benchmark. The real SD graphs live in src/sd; these follow SD1_SPEC §1.4–1.5.
 */
import type { Builder } from '../../src/onnx/builder.js';
import type { DType } from '../../src/onnx/dtype.js';
import type { Value } from '../../src/onnx/ir.js';
import { randn } from './harness.js';

export interface BlockDims {
  groups: number;
  heads: number;
}

/** Makes `<scope>.<leaf>` weights ~ N(0, scale²) from a per-name seed, in the graph's dtype. */
export function weightMaker(b: Builder, dtype: DType, seed: number) {
  let counter = 0;
  return (leaf: string, shape: number[], scale: number, shift = 0): Value => {
    const n = shape.reduce((p, d) => p * d, 1);
    const data = randn(seed * 7919 + counter++, n, scale, shift);
    return b.param(leaf, dtype === 'float64' ? data : Float32Array.from(data), shape);
  };
}

export function resBlock(
  b: Builder,
  w: ReturnType<typeof weightMaker>,
  x: Value,
  temb: Value,
  cout: number,
  d: BlockDims,
): Value {
  const cin = x.shape[1];
  const tembDim = temb.shape[1];
  let h = b.scope('in_layers', () =>
    b.silu(b.groupNorm(x, w('0.weight', [cin], 0.2, 1), w('0.bias', [cin], 0.1), d.groups, 1e-5)),
  );
  h = b.scope('in_layers.2', () =>
    b.conv2d(h, w('weight', [cout, cin, 3, 3], 1 / Math.sqrt(9 * cin)), w('bias', [cout], 0.05)),
  );
  const t = b.scope('emb_layers.1', () =>
    b.linear(b.silu(temb), w('weight', [cout, tembDim], 1 / Math.sqrt(tembDim)), w('bias', [cout], 0.05)),
  );
  h = b.add(h, b.reshape(t, [t.shape[0], cout, 1, 1]));
  h = b.scope('out_layers', () =>
    b.silu(b.groupNorm(h, w('0.weight', [cout], 0.2, 1), w('0.bias', [cout], 0.1), d.groups, 1e-5)),
  );
  h = b.scope('out_layers.3', () =>
    b.conv2d(h, w('weight', [cout, cout, 3, 3], 1 / Math.sqrt(9 * cout)), w('bias', [cout], 0.05)),
  );
  const skip =
    cin === cout
      ? x
      : b.scope('skip_connection', () =>
          b.conv2d(x, w('weight', [cout, cin, 1, 1], 1 / Math.sqrt(cin)), w('bias', [cout], 0.05)),
        );
  return b.add(skip, h, 'out');
}

export interface TransformerOptions extends BlockDims {
  /** ξ scales of attn2's to_k / to_v weights (graph inputs); omitted → unscaled. */
  xiK?: Value;
  xiV?: Value;
  recompute?: boolean;
  /** Query chunks for the attention (see AttentionOptions.chunks). */
  chunks?: number;
}

function attn(
  b: Builder,
  w: ReturnType<typeof weightMaker>,
  t: Value,
  ctx: Value,
  o: TransformerOptions,
  cross: boolean,
): Value {
  const c = t.shape[2];
  const cc = ctx.shape[2];
  const q = b.scope('to_q', () => b.linear(t, w('weight', [c, c], 1 / Math.sqrt(c))));
  const wk = b.scope('to_k', () => w('weight', [c, cc], 1 / Math.sqrt(cc)));
  const wv = b.scope('to_v', () => w('weight', [c, cc], 1 / Math.sqrt(cc)));
  const k = b.scope('to_k', () => b.linear(ctx, cross && o.xiK ? b.mul(o.xiK, wk, 'scaled') : wk));
  const v = b.scope('to_v', () => b.linear(ctx, cross && o.xiV ? b.mul(o.xiV, wv, 'scaled') : wv));
  const a = b.attention(q, k, v, o.heads, { recompute: o.recompute, chunks: o.chunks });
  return b.scope('to_out.0', () => b.linear(a, w('weight', [c, c], 1 / Math.sqrt(c)), w('bias', [c], 0.05)));
}

export function transformer(
  b: Builder,
  w: ReturnType<typeof weightMaker>,
  x: Value,
  ctx: Value,
  o: TransformerOptions,
): Value {
  const [n, c, h, wd] = x.shape;
  let y = b.scope('norm', () =>
    b.groupNorm(x, w('weight', [c], 0.2, 1), w('bias', [c], 0.1), o.groups, 1e-6),
  );
  y = b.scope('proj_in', () =>
    b.conv2d(y, w('weight', [c, c, 1, 1], 1 / Math.sqrt(c)), w('bias', [c], 0.05)),
  );
  let t = b.reshape(b.transpose(y, [0, 2, 3, 1]), [n, h * wd, c], 'tokens');
  t = b.scope('transformer_blocks.0', () => {
    const ln = (name: string, v: Value) =>
      b.scope(name, () => b.layerNorm(v, w('weight', [c], 0.2, 1), w('bias', [c], 0.1), 1e-5));
    const n1 = ln('norm1', t);
    let u = b.add(
      t,
      b.scope('attn1', () => attn(b, w, n1, n1, o, false)),
    );
    u = b.add(
      u,
      b.scope('attn2', () => attn(b, w, ln('norm2', u), ctx, o, true)),
    );
    const ff = b.scope('ff', () => {
      const g = b.scope('net.0', () =>
        b.geglu(
          ln('norm3', u),
          w('proj.weight', [8 * c, c], 1 / Math.sqrt(c)),
          w('proj.bias', [8 * c], 0.05),
        ),
      );
      return b.scope('net.2', () =>
        b.linear(g, w('weight', [c, 4 * c], 1 / Math.sqrt(4 * c)), w('bias', [c], 0.05)),
      );
    });
    return b.add(u, ff);
  });
  y = b.transpose(b.reshape(t, [n, h, wd, c]), [0, 3, 1, 2]);
  y = b.scope('proj_out', () =>
    b.conv2d(y, w('weight', [c, c, 1, 1], 1 / Math.sqrt(c)), w('bias', [c], 0.05)),
  );
  return b.add(y, x, 'out');
}
