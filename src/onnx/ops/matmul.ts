/** MatMul (numpy semantics, rank ≥ 2) and Linear (x·Wᵀ + b with a PyTorch [out, in] weight). */
import type { GraphBuilder } from '../core.js';
import { broadcastShapes, formatShape, type Value } from '../ir.js';
import { add } from './elementwise.js';
import { defineGrad } from './registry.js';
import { transpose } from './shape.js';
import { reshapeRaw, unbroadcast } from './util.js';

export function matmul(b: GraphBuilder, x: Value, y: Value, hint = 'matmul'): Value {
  if (x.shape.length < 2 || y.shape.length < 2)
    throw new Error(`matmul: ranks below 2 are not supported (${x.name}, ${y.name})`);
  if (x.dtype !== y.dtype) throw new Error(`matmul: dtypes differ (${x.dtype}, ${y.dtype})`);
  const [m, k] = x.shape.slice(-2);
  const [k2, n] = y.shape.slice(-2);
  if (k !== k2)
    throw new Error(`matmul ${formatShape(x.shape)} · ${formatShape(y.shape)}: inner dimensions differ`);
  const batch = broadcastShapes(x.shape.slice(0, -2), y.shape.slice(0, -2), 'MatMul');
  return b.emit1('MatMul', [x, y], { dtype: x.dtype, shape: [...batch, m, n] }, {}, hint);
}

function swapLast(b: GraphBuilder, x: Value): Value {
  const r = x.shape.length;
  const perm = x.shape.map((_, i) => i);
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return transpose(b, x, perm);
}

/** y = x·Wᵀ (+ bias), W shaped [out, in] as in PyTorch checkpoints. */
export function linear(b: GraphBuilder, x: Value, weight: Value, bias?: Value, hint = 'linear'): Value {
  if (weight.shape.length !== 2) throw new Error(`linear: weight '${weight.name}' must be 2-D`);
  const y = matmul(b, x, transpose(b, weight, [1, 0]), bias ? `${hint}.matmul` : hint);
  return bias ? add(b, y, bias, hint) : y;
}

/**
 * x2 [m, k] · wᵀ for a 2-D w [n, k], as one Gemm with transB. Used for ∂/∂x through a weight: the
 * plain MatMul(g, Transpose(w)) makes ORT constant-fold the Transpose of a weight initializer into a
 * private copy (anonymous memory, a second copy of every linear weight in a training session), where
 * Gemm reads w in place (mapped from its file when pre-packing is off).
 */
function matmulTransposedWeight(b: GraphBuilder, x2: Value, w: Value, hint: string): Value {
  const [m, k] = x2.shape;
  const [n, k2] = w.shape;
  if (x2.shape.length !== 2 || w.shape.length !== 2 || k !== k2)
    throw new Error(`gemm ${formatShape(x2.shape)} · ${formatShape(w.shape)}ᵀ: shapes do not fit`);
  return b.emit1('Gemm', [x2, w], { dtype: x2.dtype, shape: [m, n] }, { transB: { i: 1 } }, hint);
}

defineGrad('MatMul', (c, [g]) => {
  if (!g) return [];
  const x = c.x(0);
  const y = c.x(1);
  if (y.shape.length === 2) return weightGrads(c.b, x, y, g, c.needs(0), c.needs(1));
  return [
    c.needs(0) ? unbroadcast(c.b, matmul(c.b, g, swapLast(c.b, y)), x.shape) : undefined,
    c.needs(1) ? unbroadcast(c.b, matmul(c.b, swapLast(c.b, x), g), y.shape) : undefined,
  ];
});

/**
 * ∂x and ∂W of x·W for a 2-D W [k, n]: x's batch axes are g's, so both flatten them into one GEMM —
 * ∂x = g·Wᵀ (reading W in place, see matmulTransposedWeight), ∂W = xᵀ·g over all rows.
 */
function weightGrads(
  b: GraphBuilder,
  x: Value,
  w: Value,
  g: Value,
  needsX: boolean,
  needsW: boolean,
): [Value | undefined, Value | undefined] {
  const [k, n] = w.shape;
  const lead = g.shape.slice(0, -1);
  const rows = lead.reduce((p, d) => p * d, 1);
  const g2 = reshapeRaw(b, g, [rows, n]);
  const gx = needsX
    ? unbroadcast(b, reshapeRaw(b, matmulTransposedWeight(b, g2, w, 'matmul_grad_x'), [...lead, k]), x.shape)
    : undefined;
  let gw: Value | undefined;
  if (needsW) {
    const xFull =
      x.shape.length === g.shape.length
        ? x
        : b.emit1('Expand', [x, b.int64s([...lead, k])], { dtype: x.dtype, shape: [...lead, k] });
    const x2 = reshapeRaw(b, xFull, [rows, k]);
    gw = matmul(b, transpose(b, x2, [1, 0]), g2, 'matmul_grad');
  }
  return [gx, gw];
}
