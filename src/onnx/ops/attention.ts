/**
 * Multi-head scaled dot-product attention and GEGLU, composed from the primitive ops above (their
 * gradients come from those ops' rules). `recompute: true` puts the score/softmax/PV core in a
 * recompute segment so the backward re-emits it instead of keeping [B, h, N, M] maps alive.
 */
import type { GraphBuilder } from '../core.js';
import { BYTES_PER_ELEMENT } from '../dtype.js';
import { formatShape, type Value } from '../ir.js';
import { add, gelu, mul } from './elementwise.js';
import { linear, matmul } from './matmul.js';
import { softmax } from './norm.js';
import { concat, reshape, slice, split, transpose } from './shape.js';

export const DEFAULT_MAX_CHUNK_BYTES = 256 * 2 ** 20;

export interface AttentionOptions {
  /** Added to the scores before the softmax, broadcast to [B, heads, N, M] (e.g. a causal −∞ mask). */
  mask?: Value;
  /** Default 1/√(C/heads). */
  scale?: number;
  /** Recompute the attention core in the backward pass instead of keeping the probabilities. */
  recompute?: boolean;
  /**
   * Split the queries into this many chunks, each with its own softmax (exact, not an
   * approximation). With `recompute`, each chunk is its own segment and the backward re-emits them
   * one after another, so only one chunk's [B, h, N/chunks, M] maps are live at a time.
   * Default with `recompute`: 'auto' = as many as keep one chunk's score tensor ≤ `maxChunkBytes`;
   * default without: 1.
   */
  chunks?: number | 'auto';
  /** Score-tensor budget per chunk for `chunks: 'auto'` (default 256 MiB). */
  maxChunkBytes?: number;
}

/** q [B, N, C], k and v [B, M, C] → [B, N, C]; channel c = head·d + j as in PyTorch. */
export function attention(
  b: GraphBuilder,
  q: Value,
  k: Value,
  v: Value,
  heads: number,
  opts: AttentionOptions = {},
): Value {
  const [bs, n, ch] = q.shape;
  const m = k.shape[1];
  if (ch % heads !== 0 || k.shape[2] !== ch || v.shape[2] !== ch || k.shape[0] !== bs) {
    throw new Error(
      `attention: q ${formatShape(q.shape)}, k ${formatShape(k.shape)}, v ${formatShape(v.shape)} with ${heads} heads`,
    );
  }
  const d = ch / heads;
  // Patterns with 0 (batch, tokens) so the graph runs at any size.
  const qh = transpose(b, reshape(b, q, [0, 0, heads, d]), [0, 2, 1, 3], 'q_heads');
  const kt = transpose(b, reshape(b, k, [0, 0, heads, d]), [0, 2, 3, 1], 'k_heads_t');
  const vh = transpose(b, reshape(b, v, [0, 0, heads, d]), [0, 2, 1, 3], 'v_heads');
  const wanted = opts.chunks ?? (opts.recompute ? 'auto' : 1);
  const scoreBytes = bs * heads * n * m * BYTES_PER_ELEMENT[q.dtype];
  const auto = Math.ceil(scoreBytes / (opts.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES));
  const chunks = Math.max(1, Math.min(wanted === 'auto' ? auto : wanted, n));
  const sizes = Array.from(
    { length: chunks },
    (_, i) => Math.floor((n * (i + 1)) / chunks) - Math.floor((n * i) / chunks),
  );
  const qParts = chunks > 1 ? split(b, qh, sizes, 2, 'q_chunks') : [qh];
  let offset = 0;
  const outs = qParts.map((qc) => {
    let mask = opts.mask;
    if (mask && chunks > 1 && mask.shape.length >= 2 && mask.shape[mask.shape.length - 2] === n) {
      mask = slice(
        b,
        mask,
        [offset],
        [offset + qc.shape[2]],
        [mask.shape.length - 2],
        undefined,
        'mask_chunk',
      );
    }
    offset += qc.shape[2];
    const core = () => {
      let s = mul(b, matmul(b, qc, kt, 'scores_raw'), opts.scale ?? 1 / Math.sqrt(d), 'scores');
      if (mask) s = add(b, s, mask, 'scores_masked');
      return matmul(b, softmax(b, s, -1, 'probs'), vh, 'attn_heads');
    };
    return opts.recompute ? b.recompute(core) : core();
  });
  const o = outs.length > 1 ? concat(b, outs, 2, 'attn_chunks') : outs[0];
  return reshape(b, transpose(b, o, [0, 2, 1, 3]), [0, 0, ch], 'attn');
}

/** GEGLU feed-forward input half: p = x·W₀ᵀ + b₀, value = p[…, :H], gate = p[…, H:], out = value·GELU(gate). */
export function geglu(b: GraphBuilder, x: Value, weight: Value, bias?: Value): Value {
  const p = linear(b, x, weight, bias, 'proj');
  const inner = p.shape[p.shape.length - 1] / 2;
  const [value, gate] = split(b, p, [inner, inner], -1, 'halves');
  return mul(b, value, gelu(b, gate), 'geglu');
}
