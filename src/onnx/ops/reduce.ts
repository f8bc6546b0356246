/** ReduceSum and ReduceMean over static axes (opset 17: ReduceSum takes axes as an input, ReduceMean as an attribute). */
import type { GraphBuilder } from '../core.js';
import { normAxis, type Value } from '../ir.js';
import { mul } from './elementwise.js';
import { defineGrad } from './registry.js';
import { expand } from './shape.js';
import { reduceSumRaw, reshapeRaw } from './util.js';

export function reduceSum(b: GraphBuilder, x: Value, axes: readonly number[], keepdims = true): Value {
  return reduceSumRaw(
    b,
    x,
    axes.map((a) => normAxis(a, x.shape.length)),
    keepdims,
  );
}

export function reduceMean(
  b: GraphBuilder,
  x: Value,
  axes: readonly number[],
  keepdims = true,
  hint = 'mean',
): Value {
  const ax = axes.map((a) => normAxis(a, x.shape.length));
  const shape = keepdims
    ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d))
    : x.shape.filter((_, i) => !ax.includes(i));
  return b.emit1(
    'ReduceMean',
    [x],
    { dtype: x.dtype, shape },
    { axes: { ints: ax }, keepdims: { i: keepdims ? 1 : 0 } },
    hint,
  );
}

function reduceGrad(b: GraphBuilder, g: Value, x: Value, axes: readonly number[]): Value {
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return expand(b, reshapeRaw(b, g, kept), x.shape, 'reduce_grad');
}

function constAxes(c: { b: GraphBuilder; node: { inputs: readonly string[] } }): number[] {
  const init = c.b.graph.initializers.get(c.node.inputs[1]);
  if (!init) throw new Error('ReduceSum gradient needs constant axes');
  return Array.from(init.data! as BigInt64Array, Number);
}

defineGrad('ReduceSum', (c, [g]) => [g && reduceGrad(c.b, g, c.x(0), constAxes(c))]);

defineGrad('ReduceMean', (c, [g]) => {
  if (!g) return [];
  const x = c.x(0);
  const axes = c.attrInts('axes');
  const count = axes.reduce((p, a) => p * x.shape[a], 1);
  return [reduceGrad(c.b, mul(c.b, g, 1 / count), x, axes)];
});
