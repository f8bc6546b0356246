/**
 * `Builder`: the graph-building API. Every method infers its output shape and dtype; values are named
 * after the current scope (`b.scope('to_k', …)`), weights are `param`s, inputs are `input`s.
 * See src/onnx/README.md for a walkthrough.
 */

import { GraphBuilder, type Operand } from './core.js';
import { dumpGraph, opCounts } from './debug.js';
import type { DType } from './dtype.js';
import type { Value } from './ir.js';
import { type AttentionOptions, attention, geglu } from './ops/attention.js';
import { type ConvOptions, conv2d } from './ops/conv.js';
import * as ew from './ops/elementwise.js';
import { linear, matmul } from './ops/matmul.js';
import { groupNorm, layerNorm, softmax } from './ops/norm.js';
import { reduceMean, reduceSum } from './ops/reduce.js';
import * as sh from './ops/shape.js';

export class Builder extends GraphBuilder {
  /** Text listing of the graph so far (op counts, inputs, nodes with shapes, outputs). */
  dump(maxNodes?: number): string {
    return dumpGraph(this.graph, { maxNodes });
  }
  opCounts(): Record<string, number> {
    return opCounts(this.graph);
  }
  add(x: Operand, y: Operand, hint?: string): Value {
    return ew.add(this, x, y, hint);
  }
  sub(x: Operand, y: Operand, hint?: string): Value {
    return ew.sub(this, x, y, hint);
  }
  mul(x: Operand, y: Operand, hint?: string): Value {
    return ew.mul(this, x, y, hint);
  }
  div(x: Operand, y: Operand, hint?: string): Value {
    return ew.div(this, x, y, hint);
  }
  pow(x: Operand, y: Operand, hint?: string): Value {
    return ew.pow(this, x, y, hint);
  }
  neg(x: Value): Value {
    return ew.neg(this, x);
  }
  sqrt(x: Value): Value {
    return ew.sqrt(this, x);
  }
  reciprocal(x: Value): Value {
    return ew.reciprocal(this, x);
  }
  exp(x: Value): Value {
    return ew.exp(this, x);
  }
  erf(x: Value): Value {
    return ew.erf(this, x);
  }
  tanh(x: Value): Value {
    return ew.tanh(this, x);
  }
  sigmoid(x: Value): Value {
    return ew.sigmoid(this, x);
  }
  cos(x: Value): Value {
    return ew.cos(this, x);
  }
  sin(x: Value): Value {
    return ew.sin(this, x);
  }
  abs(x: Value): Value {
    return ew.abs(this, x);
  }
  identity(x: Value, hint?: string): Value {
    return ew.identity(this, x, hint);
  }
  cast(x: Value, to: DType): Value {
    return ew.cast(this, x, to);
  }
  where(cond: Value, x: Operand, y: Operand): Value {
    return ew.where(this, cond, x, y);
  }
  silu(x: Value): Value {
    return ew.silu(this, x);
  }
  gelu(x: Value): Value {
    return ew.gelu(this, x);
  }
  quickGelu(x: Value): Value {
    return ew.quickGelu(this, x);
  }
  matmul(x: Value, y: Value, hint?: string): Value {
    return matmul(this, x, y, hint);
  }
  /** x·Wᵀ + bias with a PyTorch-layout weight [out, in]. */
  linear(x: Value, weight: Value, bias?: Value, hint?: string): Value {
    return linear(this, x, weight, bias, hint);
  }
  conv2d(x: Value, weight: Value, bias?: Value, opts?: ConvOptions, hint?: string): Value {
    return conv2d(this, x, weight, bias, opts, hint);
  }
  groupNorm(x: Value, gamma: Value, beta: Value, groups: number, eps: number, hint?: string): Value {
    return groupNorm(this, x, gamma, beta, groups, eps, hint);
  }
  layerNorm(x: Value, scale: Value, bias: Value, eps: number, hint?: string): Value {
    return layerNorm(this, x, scale, bias, eps, hint);
  }
  softmax(x: Value, axis = -1, hint?: string): Value {
    return softmax(this, x, axis, hint);
  }
  attention(q: Value, k: Value, v: Value, heads: number, opts?: AttentionOptions): Value {
    return attention(this, q, k, v, heads, opts);
  }
  geglu(x: Value, weight: Value, bias?: Value): Value {
    return geglu(this, x, weight, bias);
  }
  reduceSum(x: Value, axes: readonly number[], keepdims = true): Value {
    return reduceSum(this, x, axes, keepdims);
  }
  reduceMean(x: Value, axes: readonly number[], keepdims = true): Value {
    return reduceMean(this, x, axes, keepdims);
  }
  reshape(x: Value, shape: readonly number[], hint?: string): Value {
    return sh.reshape(this, x, shape, hint);
  }
  transpose(x: Value, perm: readonly number[], hint?: string): Value {
    return sh.transpose(this, x, perm, hint);
  }
  concat(xs: readonly Value[], axis: number, hint?: string): Value {
    return sh.concat(this, xs, axis, hint);
  }
  split(x: Value, sizes: readonly number[], axis: number, hint?: string): Value[] {
    return sh.split(this, x, sizes, axis, hint);
  }
  slice(
    x: Value,
    starts: readonly number[],
    ends: readonly number[],
    axes?: readonly number[],
    steps?: readonly number[],
  ): Value {
    return sh.slice(this, x, starts, ends, axes, steps);
  }
  /** ONNX pad order: all begins, then all ends. */
  pad(x: Value, pads: readonly number[], value = 0): Value {
    return sh.pad(this, x, pads, value);
  }
  expand(x: Value, shape: readonly number[]): Value {
    return sh.expand(this, x, shape);
  }
  gather(data: Value, indices: Value, axis = 0): Value {
    return sh.gather(this, data, indices, axis);
  }
  upsampleNearest2x(x: Value): Value {
    return sh.upsampleNearest2x(this, x);
  }
  /** Nearest resize of [N, C, H, W] to [height, width], PyTorch's `F.interpolate(size=…)` semantics. */
  resizeNearest(x: Value, size: readonly [number, number]): Value {
    return sh.resizeNearest(this, x, size);
  }
  /** `resizeNearest` to the run-time height and width of `like` (size-agnostic graphs). */
  resizeNearestLike(x: Value, like: Value): Value {
    return sh.resizeNearestLike(this, x, like);
  }
  /** Reshape to the run-time shape of `like`. */
  reshapeLike(x: Value, like: Value, hint?: string): Value {
    return sh.reshapeLike(this, x, like, hint);
  }
  /** Mean squared error over every element, as a scalar []. */
  mse(pred: Value, target: Value, hint = 'loss'): Value {
    const d = this.sub(pred, target);
    return reduceMean(
      this,
      this.mul(d, d),
      pred.shape.map((_, i) => i),
      false,
      hint,
    );
  }
}
