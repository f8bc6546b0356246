/** Small emit helpers shared by the op modules (no gradient rules here). */
import type { GraphBuilder } from '../core.js';
import { formatShape, numel, type Shape, shapeEq, type Value } from '../ir.js';

/**
 * Reshape to the static `shape`. `pattern` (ONNX semantics: 0 copies the input's dimension, −1 is
 * inferred) is what the node carries instead, so the model also runs at other sizes.
 */
export function reshapeRaw(
  b: GraphBuilder,
  x: Value,
  shape: readonly number[],
  hint = 'reshape',
  pattern?: readonly number[],
): Value {
  if (shapeEq(x.shape, shape) && (!pattern || pattern.every((d) => d === 0))) return x;
  if (numel(shape) !== numel(x.shape))
    throw new Error(`reshape ${formatShape(x.shape)} → ${formatShape(shape)}: sizes differ`);
  return b.emit1('Reshape', [x, b.int64s(pattern ?? shape)], { dtype: x.dtype, shape }, {}, hint);
}

export function reduceSumRaw(b: GraphBuilder, x: Value, axes: readonly number[], keepdims: boolean): Value {
  if (axes.length === 0) return x;
  const shape = keepdims
    ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : x.shape.filter((_, i) => !axes.includes(i));
  return b.emit1(
    'ReduceSum',
    [x, b.int64s(axes)],
    { dtype: x.dtype, shape },
    { keepdims: { i: keepdims ? 1 : 0 } },
    'sum',
  );
}

/** Sums a broadcast gradient back down to `shape` (the inverse of numpy broadcasting). */
export function unbroadcast(b: GraphBuilder, g: Value, shape: Shape): Value {
  if (shapeEq(g.shape, shape)) return g;
  const lead = g.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.shape.length; i++) {
    const target = i < lead ? 1 : shape[i - lead];
    if (target === 1 && (g.shape[i] !== 1 || i < lead)) axes.push(i);
    else if (target !== g.shape[i])
      throw new Error(`unbroadcast ${formatShape(g.shape)} → ${formatShape(shape)}`);
  }
  return reshapeRaw(b, reduceSumRaw(b, g, axes, true), shape, 'unbroadcast');
}

export function permute<T>(xs: readonly T[], perm: readonly number[]): T[] {
  return perm.map((p) => xs[p]);
}

export function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inv[p] = i;
  });
  return inv;
}
