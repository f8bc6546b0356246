/**
 * Rewrites a graph so ORT's CPU provider can run it in float64: the ops that have no float64 CPU
 * kernel (Conv, ConvTranspose, InstanceNormalization, Resize, Erf) become equivalent primitive
 * subgraphs. Applied *after* `grad`, so the gradient rules under test (e.g. Conv → ConvTranspose)
 * are the ones that get checked, only executed through primitives.
 */
import { GraphBuilder } from './core.js';
import type { Graph, OpNode, Value } from './ir.js';
import { im2col, weightAsMatrix } from './ops/conv.js';
import { add, div, exp, mul, neg, sqrt, sub } from './ops/elementwise.js';
import { matmul } from './ops/matmul.js';
import { reduceMean } from './ops/reduce.js';
import { expand, pad, slice, transpose } from './ops/shape.js';
import { reshapeRaw } from './ops/util.js';

type Lowering = (b: GraphBuilder, node: OpNode, inputs: (Value | undefined)[], out: Value) => Value;

function ints(node: OpNode, name: string, fallback: number[]): readonly number[] {
  const a = node.attrs[name];
  return a && 'ints' in a ? a.ints : fallback;
}

function lowerConv(
  b: GraphBuilder,
  x: Value,
  w: Value,
  bias: Value | undefined,
  stride: number,
  pads: readonly number[],
  out: Value,
): Value {
  const [n, cout, ho, wo] = out.shape;
  const [, , kh, kw] = w.shape;
  const cols = im2col(b, x, kh, kw, stride, pads, ho, wo);
  let y = reshapeRaw(b, matmul(b, weightAsMatrix(b, w), cols), [n, cout, ho, wo]);
  if (bias) y = add(b, y, reshapeRaw(b, bias, [cout, 1, 1]));
  return y;
}

const lowerings: Record<string, Lowering> = {
  Conv: (b, node, [x, w, bias], out) =>
    lowerConv(b, x!, w!, bias, ints(node, 'strides', [1, 1])[0], ints(node, 'pads', [0, 0, 0, 0]), out),

  // ConvTranspose = zero-insertion by the stride, padding by k−1−p (+ output_padding at the end),
  // then a stride-1 conv with the kernel flipped and its channel axes swapped.
  ConvTranspose: (b, node, [g, w, bias], out) => {
    const s = ints(node, 'strides', [1, 1])[0];
    const pads = ints(node, 'pads', [0, 0, 0, 0]);
    const op = ints(node, 'output_padding', [0, 0]);
    const [n, c, h, wd] = g!.shape;
    const [, , kh, kw] = w!.shape;
    let d = g!;
    if (s > 1) {
      const spread = pad(b, reshapeRaw(b, d, [n, c, h, 1, wd, 1]), [
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        s - 1,
        0,
        s - 1,
      ]);
      d = slice(
        b,
        reshapeRaw(b, spread, [n, c, h * s, wd * s]),
        [0, 0],
        [(h - 1) * s + 1, (wd - 1) * s + 1],
        [2, 3],
      );
    }
    const flipped = slice(
      b,
      transpose(b, w!, [1, 0, 2, 3]),
      [-1, -1],
      [-(kh + 1), -(kw + 1)],
      [2, 3],
      [-1, -1],
    );
    const p = [kh - 1 - pads[0], kw - 1 - pads[1], kh - 1 - pads[2] + op[0], kw - 1 - pads[3] + op[1]];
    return lowerConv(b, d, flipped, bias, 1, p, out);
  },

  InstanceNormalization: (b, node, [x, scale, bias]) => {
    const eps = (node.attrs.epsilon as { f: number } | undefined)?.f ?? 1e-5;
    const axes = x!.shape.map((_, i) => i).slice(2);
    const d = sub(b, x!, reduceMean(b, x!, axes));
    const xhat = div(b, d, sqrt(b, add(b, reduceMean(b, mul(b, d, d), axes), eps)));
    const ch = [x!.shape[1], ...axes.map(() => 1)];
    return add(b, mul(b, xhat, reshapeRaw(b, scale!, ch)), reshapeRaw(b, bias!, ch));
  },

  Resize: (b, _node, [x], out) => {
    const [n, c, h, w] = x!.shape;
    if (out.shape[2] !== 2 * h || out.shape[3] !== 2 * w)
      throw new Error('lower64: only nearest ×2 Resize is lowered');
    return reshapeRaw(b, expand(b, reshapeRaw(b, x!, [n, c, h, 1, w, 1]), [n, c, h, 2, w, 2]), out.shape);
  },

  Erf: (b, _node, [x]) => erf64(b, x!),
};

const ERF_SERIES_TERMS = 34;
const ERFC_FRACTION_DEPTH = 48;

/**
 * erf to ~2e-16 absolute: Maclaurin series (Horner in t²) for |x| < 2, and 1 − erfc with erfc's
 * continued fraction exp(−t²)/√π · 1/(t + ½/(t + 1/(t + 3⁄2/(t + …)))) for |x| ≥ 2 (t ≤ 6 suffices:
 * erfc(6) ≈ 2e-17).
 */
export function erf64(b: GraphBuilder, x: Value): Value {
  const raw = (op: string, inputs: Value[]) =>
    b.emit1(op, inputs, { dtype: inputs[0].dtype, shape: x.shape }, {}, op.toLowerCase());
  const a = raw('Abs', [x]);
  const t = raw('Min', [a, b.scalar(2, x.dtype)]);
  const u = mul(b, t, t);
  let fact = 1;
  let series: Value = b.scalar(0, x.dtype);
  for (let n = ERF_SERIES_TERMS; n >= 0; n--) {
    fact = 1;
    for (let k = 2; k <= n; k++) fact *= k;
    const c = ((n % 2 ? -1 : 1) / (fact * (2 * n + 1))) as number;
    series = n === ERF_SERIES_TERMS ? expand(b, b.scalar(c, x.dtype), x.shape) : add(b, mul(b, series, u), c);
  }
  const small = mul(b, mul(b, series, t), 2 / Math.sqrt(Math.PI));
  const tl = raw('Min', [raw('Max', [a, b.scalar(2, x.dtype)]), b.scalar(6, x.dtype)]);
  let k: Value = tl;
  for (let n = ERFC_FRACTION_DEPTH; n >= 1; n--) k = add(b, tl, div(b, n / 2, k));
  const erfc = div(b, mul(b, exp(b, neg(b, mul(b, tl, tl))), 1 / Math.sqrt(Math.PI)), k);
  const large = sub(b, 1, erfc);
  const isSmall = b.emit1(
    'Less',
    [a, b.scalar(2, x.dtype)],
    { dtype: 'bool', shape: x.shape },
    {},
    'is_small',
  );
  const mag = b.emit1('Where', [isSmall, small, large], { dtype: x.dtype, shape: x.shape }, {}, 'erf_mag');
  return mul(b, raw('Sign', [x]), mag);
}

/** A copy of `graph` with every float64-less op replaced; names of kept values are unchanged. */
export function lowerForFloat64(graph: Graph): Graph {
  const b = new GraphBuilder(`${graph.name}.lower64`);
  const g = b.graph;
  const map = new Map<string, Value>();
  for (const name of graph.inputs)
    map.set(name, b.input(name, graph.value(name).dtype, graph.value(name).shape));
  for (const t of graph.initializers.values())
    map.set(t.name, b.initializer(t.name, t.data ?? t.file!, t.shape, t.dtype));
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((n) => (n ? map.get(n) : undefined));
    const lower = lowerings[node.op];
    if (lower && node.outputs.length === 1) {
      const out = graph.value(node.outputs[0]);
      const y = b.scope(`lower.${node.name.replace(/\//g, '.')}`, () => lower(b, node, inputs, out));
      map.set(out.name, y);
      continue;
    }
    for (const o of node.outputs) map.set(o, g.addValue(graph.value(o)));
    g.addNode({ ...node, inputs: inputs.map((v) => v?.name ?? '') });
  }
  for (const name of graph.outputs) {
    const v = map.get(name)!;
    if (v.name === name) g.outputs.push(name);
    else b.output(v, name);
  }
  return g;
}
