/**
 * GroupNorm (as Reshape → InstanceNormalization → Reshape → per-channel affine), LayerNormalization
 * and Softmax, with closed-form backward rules. The norm rules recompute mean and variance two-pass
 * in the graph's dtype (ORT exposes no InstanceNorm stats, and LayerNormalization's are float32 only).
 */
import type { GraphBuilder } from '../core.js';
import { formatShape, normAxis, type Value } from '../ir.js';
import { add, div, mul, sqrt, sub } from './elementwise.js';
import { reduceMean, reduceSum } from './reduce.js';
import { defineGrad } from './registry.js';
import { reshapeLike } from './shape.js';
import { reshapeRaw } from './util.js';

/** PyTorch GroupNorm: `groups` contiguous channel groups, biased variance, affine γ, β per channel. */
export function groupNorm(
  b: GraphBuilder,
  x: Value,
  gamma: Value,
  beta: Value,
  groups: number,
  eps: number,
  hint = 'group_norm',
): Value {
  const [n, ch, ...spatial] = x.shape;
  if (ch % groups !== 0) throw new Error(`groupNorm: ${ch} channels do not split into ${groups} groups`);
  const len = (ch / groups) * spatial.reduce((p, d) => p * d, 1);
  const grouped = reshapeRaw(b, x, [n, groups, len], 'reshape', [0, groups, -1]);
  const ones = b.constant(x.dtype, [groups], new Array(groups).fill(1));
  const zeros = b.constant(x.dtype, [groups], new Array(groups).fill(0));
  const normed = b.emit1(
    'InstanceNormalization',
    [grouped, ones, zeros],
    { dtype: x.dtype, shape: grouped.shape },
    { epsilon: { f: eps } },
    `${hint}.normed`,
  );
  const back = reshapeLike(b, normed, x);
  const affineShape = [ch, ...spatial.map(() => 1)];
  return add(b, mul(b, back, reshapeRaw(b, gamma, affineShape)), reshapeRaw(b, beta, affineShape), hint);
}

/** LayerNorm over the last axis with affine scale and bias (PyTorch nn.LayerNorm). */
export function layerNorm(
  b: GraphBuilder,
  x: Value,
  scale: Value,
  bias: Value,
  eps: number,
  hint = 'layer_norm',
): Value {
  const c = x.shape[x.shape.length - 1];
  if (scale.shape.length !== 1 || scale.shape[0] !== c)
    throw new Error(`layerNorm: scale ${formatShape(scale.shape)} for ${formatShape(x.shape)}`);
  return b.emit1(
    'LayerNormalization',
    [x, scale, bias],
    { dtype: x.dtype, shape: x.shape },
    { axis: { i: -1 }, epsilon: { f: eps } },
    hint,
  );
}

export function softmax(b: GraphBuilder, x: Value, axis = -1, hint = 'softmax'): Value {
  return b.emit1(
    'Softmax',
    [x],
    { dtype: x.dtype, shape: x.shape },
    { axis: { i: normAxis(axis, x.shape.length) } },
    hint,
  );
}

/** x̂ and 1/σ over `axes`, recomputed two-pass (stable at large offsets). */
function standardize(b: GraphBuilder, x: Value, axes: number[], eps: number) {
  const d = sub(b, x, reduceMean(b, x, axes));
  const rstd = div(b, 1, sqrt(b, add(b, reduceMean(b, mul(b, d, d), axes), eps)));
  return { xhat: mul(b, d, rstd), rstd };
}

/** dx = rstd·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂)) over the normalised axes. */
function normBackward(b: GraphBuilder, gxhat: Value, xhat: Value, rstd: Value, axes: number[]): Value {
  const m1 = reduceMean(b, gxhat, axes);
  const m2 = reduceMean(b, mul(b, gxhat, xhat), axes);
  return mul(b, rstd, sub(b, sub(b, gxhat, m1), mul(b, xhat, m2)));
}

defineGrad('InstanceNormalization', (c, [g]) => {
  if (!g) return [];
  const x = c.x(0);
  const axes = x.shape.map((_, i) => i).slice(2);
  const { xhat, rstd } = standardize(c.b, x, axes, c.attrF('epsilon', 1e-5));
  const chShape = [x.shape[1], ...axes.map(() => 1)];
  const scale = reshapeRaw(c.b, c.x(1), chShape);
  const gx = c.needs(0) ? normBackward(c.b, mul(c.b, g, scale), xhat, rstd, axes) : undefined;
  const outer = [0, ...axes];
  const gs = c.needs(1) ? reduceSum(c.b, mul(c.b, g, xhat), outer, false) : undefined;
  const gb = c.needs(2) ? reduceSum(c.b, g, outer, false) : undefined;
  return [gx, gs, gb];
});

defineGrad('LayerNormalization', (c, [g]) => {
  if (!g) return [];
  const x = c.x(0);
  const first = normAxis(c.attrI('axis', -1), x.shape.length);
  const axes = x.shape.map((_, i) => i).slice(first);
  const outer = x.shape.map((_, i) => i).slice(0, first);
  const { xhat, rstd } = standardize(c.b, x, axes, c.attrF('epsilon', 1e-5));
  const gx = c.needs(0) ? normBackward(c.b, mul(c.b, g, c.x(1)), xhat, rstd, axes) : undefined;
  const gs = c.needs(1) ? reduceSum(c.b, mul(c.b, g, xhat), outer, false) : undefined;
  const gb = c.node.inputs.length > 2 && c.needs(2) ? reduceSum(c.b, g, outer, false) : undefined;
  return [gx, gs, gb];
});

defineGrad('Softmax', (c, [g]) => {
  if (!g) return [];
  const y = c.y(0);
  const axis = c.attrI('axis', -1);
  return [mul(c.b, y, sub(c.b, g, reduceSum(c.b, mul(c.b, g, y), [axis], true)))];
});
