/**
 * Elementwise ops with numpy broadcasting, unary math, Cast and Where, plus the activations built
 * from them (SiLU, erf-GELU, QuickGELU). Each forward sits next to its gradient rule.
 */

import type { GraphBuilder, Operand } from '../core.js';
import { type DType, ONNX_DTYPE } from '../dtype.js';
import { broadcastShapes, type Value } from '../ir.js';
import { defineGrad } from './registry.js';
import { unbroadcast } from './util.js';

function binary(b: GraphBuilder, op: string, x: Operand, y: Operand, hint: string): Value {
  if (typeof x === 'number' && typeof y === 'number')
    throw new Error(`${op}: at least one operand must be a value`);
  const xv = typeof x === 'number' ? b.operand(x, y as Value) : x;
  const yv = b.operand(y, xv);
  if (xv.dtype !== yv.dtype)
    throw new Error(`${op}: dtypes differ (${xv.name}: ${xv.dtype}, ${yv.name}: ${yv.dtype})`);
  return b.emit1(op, [xv, yv], { dtype: xv.dtype, shape: broadcastShapes(xv.shape, yv.shape, op) }, {}, hint);
}

export const add = (b: GraphBuilder, x: Operand, y: Operand, hint = 'add') => binary(b, 'Add', x, y, hint);
export const sub = (b: GraphBuilder, x: Operand, y: Operand, hint = 'sub') => binary(b, 'Sub', x, y, hint);
export const mul = (b: GraphBuilder, x: Operand, y: Operand, hint = 'mul') => binary(b, 'Mul', x, y, hint);
export const div = (b: GraphBuilder, x: Operand, y: Operand, hint = 'div') => binary(b, 'Div', x, y, hint);
export const pow = (b: GraphBuilder, x: Operand, y: Operand, hint = 'pow') => binary(b, 'Pow', x, y, hint);

function unary(b: GraphBuilder, op: string, x: Value, hint?: string): Value {
  return b.emit1(op, [x], { dtype: x.dtype, shape: x.shape }, {}, hint ?? op.toLowerCase());
}

export const neg = (b: GraphBuilder, x: Value) => unary(b, 'Neg', x);
export const sqrt = (b: GraphBuilder, x: Value) => unary(b, 'Sqrt', x);
export const reciprocal = (b: GraphBuilder, x: Value) => unary(b, 'Reciprocal', x);
export const exp = (b: GraphBuilder, x: Value) => unary(b, 'Exp', x);
export const erf = (b: GraphBuilder, x: Value) => unary(b, 'Erf', x);
export const tanh = (b: GraphBuilder, x: Value) => unary(b, 'Tanh', x);
export const sigmoid = (b: GraphBuilder, x: Value) => unary(b, 'Sigmoid', x);
export const cos = (b: GraphBuilder, x: Value) => unary(b, 'Cos', x);
export const sin = (b: GraphBuilder, x: Value) => unary(b, 'Sin', x);
/** |x|; its gradient is sign(x)·g (0 at x = 0, as torch). */
export const abs = (b: GraphBuilder, x: Value) => unary(b, 'Abs', x);
export const identity = (b: GraphBuilder, x: Value, hint = 'identity') => unary(b, 'Identity', x, hint);

export function cast(b: GraphBuilder, x: Value, to: DType): Value {
  if (x.dtype === to) return x;
  return b.emit1('Cast', [x], { dtype: to, shape: x.shape }, { to: { i: ONNX_DTYPE[to] } }, 'cast');
}

/** `cond ? x : y` elementwise with broadcasting (e.g. a causal mask). */
export function where(b: GraphBuilder, cond: Value, x: Operand, y: Operand): Value {
  if (cond.dtype !== 'bool')
    throw new Error(`where: condition '${cond.name}' must be bool, got ${cond.dtype}`);
  const like = typeof x === 'number' ? (y as Value) : x;
  const xv = b.operand(x, like);
  const yv = b.operand(y, like);
  const shape = broadcastShapes(broadcastShapes(cond.shape, xv.shape, 'Where'), yv.shape, 'Where');
  return b.emit1('Where', [cond, xv, yv], { dtype: xv.dtype, shape }, {}, 'where');
}

export function silu(b: GraphBuilder, x: Value): Value {
  return mul(b, x, sigmoid(b, x), 'silu');
}

/** Exact GELU, 0.5·x·(1 + erf(x/√2)) (torch's default). */
export function gelu(b: GraphBuilder, x: Value): Value {
  const e = erf(b, mul(b, x, Math.SQRT1_2));
  return mul(b, mul(b, x, 0.5), add(b, e, 1), 'gelu');
}

/** CLIP's QuickGELU, x·sigmoid(1.702·x). */
export function quickGelu(b: GraphBuilder, x: Value): Value {
  return mul(b, x, sigmoid(b, mul(b, x, 1.702)), 'quick_gelu');
}

// ---- gradient rules -------------------------------------------------------------------------

defineGrad('Add', (c, [g]) => [
  g && c.needs(0) ? unbroadcast(c.b, g, c.x(0).shape) : undefined,
  g && c.needs(1) ? unbroadcast(c.b, g, c.x(1).shape) : undefined,
]);

defineGrad('Sub', (c, [g]) => [
  g && c.needs(0) ? unbroadcast(c.b, g, c.x(0).shape) : undefined,
  g && c.needs(1) ? unbroadcast(c.b, neg(c.b, g), c.x(1).shape) : undefined,
]);

defineGrad('Mul', (c, [g]) => [
  g && c.needs(0) ? unbroadcast(c.b, mul(c.b, g, c.x(1)), c.x(0).shape) : undefined,
  g && c.needs(1) ? unbroadcast(c.b, mul(c.b, g, c.x(0)), c.x(1).shape) : undefined,
]);

defineGrad('Div', (c, [g]) => {
  if (!g) return [];
  const gx = c.needs(0) || c.needs(1) ? div(c.b, g, c.x(1)) : undefined;
  return [
    gx && c.needs(0) ? unbroadcast(c.b, gx, c.x(0).shape) : undefined,
    gx && c.needs(1) ? unbroadcast(c.b, neg(c.b, mul(c.b, gx, c.y(0))), c.x(1).shape) : undefined,
  ];
});

defineGrad('Pow', (c, [g]) => {
  if (!g) return [];
  if (c.needs(1))
    throw new Error(`Pow '${c.node.name}': gradient with respect to the exponent is not supported`);
  const p = c.x(1);
  const gx = mul(c.b, g, mul(c.b, p, pow(c.b, c.x(0), sub(c.b, p, 1))));
  return [unbroadcast(c.b, gx, c.x(0).shape)];
});

defineGrad('Neg', (c, [g]) => [g && neg(c.b, g)]);
defineGrad('Identity', (_c, [g]) => [g]);
defineGrad('Sqrt', (c, [g]) => [g && div(c.b, g, mul(c.b, c.y(0), 2))]);
defineGrad('Reciprocal', (c, [g]) => [g && neg(c.b, mul(c.b, g, mul(c.b, c.y(0), c.y(0))))]);
defineGrad('Exp', (c, [g]) => [g && mul(c.b, g, c.y(0))]);
defineGrad('Erf', (c, [g]) => {
  if (!g) return [];
  const x = c.x(0);
  const d = mul(c.b, exp(c.b, neg(c.b, mul(c.b, x, x))), 2 / Math.sqrt(Math.PI));
  return [mul(c.b, g, d)];
});
defineGrad('Tanh', (c, [g]) => [g && mul(c.b, g, sub(c.b, 1, mul(c.b, c.y(0), c.y(0))))]);
defineGrad('Sigmoid', (c, [g]) => {
  if (!g) return [];
  const y = c.y(0);
  return [mul(c.b, g, mul(c.b, y, sub(c.b, 1, y)))];
});
defineGrad('Cos', (c, [g]) => [g && neg(c.b, mul(c.b, g, sin(c.b, c.x(0))))]);
defineGrad('Sin', (c, [g]) => [g && mul(c.b, g, cos(c.b, c.x(0)))]);
defineGrad('Abs', (c, [g]) => [g && mul(c.b, g, unary(c.b, 'Sign', c.x(0)))]);
defineGrad('Cast', (c, [g]) => [g && cast(c.b, g, c.x(0).dtype)]);
defineGrad('Where', (c, [g]) => {
  if (!g) return [];
  const cond = c.x(0);
  return [
    undefined,
    c.needs(1) ? unbroadcast(c.b, where(c.b, cond, g, 0), c.x(1).shape) : undefined,
    c.needs(2) ? unbroadcast(c.b, where(c.b, cond, 0, g), c.x(2).shape) : undefined,
  ];
});
