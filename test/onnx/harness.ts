/**
 * Gradient-check harness: builds a case in float64 (lowered so ORT CPU can run it) and float32 (the
 * real op set), and compares reverse-mode gradients with central finite differences of the float64
 * forward graph.
 */
import { Builder } from '../../src/onnx/builder.js';
import type { DType } from '../../src/onnx/dtype.js';
import { grad } from '../../src/onnx/grad.js';
import { type Graph, numel, type Value } from '../../src/onnx/ir.js';
import { lowerForFloat64 } from '../../src/onnx/lower64.js';
import { encodeModel } from '../../src/onnx/serialize.js';
import { createSession, type EngineSession, type TensorValue } from '../../src/onnx/session.js';

/** Deterministic N(0,1) stream (mulberry32 + Box–Muller). */
export function randn(seed: number, n: number, scale = 1, shift = 0): Float64Array {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(uniform(), 1e-12);
    out[i] = shift + scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  }
  return out;
}

export interface InputSpec {
  shape: number[];
  /** Values (float64); default N(0,1) from the case seed. */
  data?: Float64Array;
  dtype?: DType;
}

export interface GradCase {
  inputs: Record<string, InputSpec>;
  /** Names of the inputs to differentiate. */
  wrt: string[];
  /** Builds f(inputs); the harness differentiates L = Σ f·R (R random) or f itself when scalar. */
  build(b: Builder, x: Record<string, Value>, dtype: DType): Value | Value[];
}

export interface GradReport {
  /** max over wrt of max_i |AD_i − FD_i| / max|AD| on the checked coordinates (float64). */
  maxRelErr: number;
  /** |AD·v − FD_v| / |AD·v| along a random direction v (float64). */
  directionalRelErr: number;
  /** max over wrt of max|g32 − g64| / max|g64| (float32 real ops vs float64 lowered). */
  f32RelErr: number;
  coordsChecked: number;
}

function castData(data: Float64Array, dtype: DType): TensorValue['data'] {
  if (dtype === 'float64') return data;
  if (dtype === 'float32') return Float32Array.from(data);
  if (dtype === 'int64') return BigInt64Array.from(data, (v) => BigInt(Math.round(v)));
  if (dtype === 'int32') return Int32Array.from(data, (v) => Math.round(v));
  if (dtype === 'bool') return Uint8Array.from(data, (v) => (v ? 1 : 0));
  throw new Error(`harness: ${dtype}`);
}

function buildLoss(
  c: GradCase,
  dtype: DType,
  seed: number,
  withGrad: boolean,
): { graph: Graph; wrt: Value[] } {
  const b = new Builder('case');
  const x: Record<string, Value> = {};
  for (const [name, spec] of Object.entries(c.inputs)) {
    const dt = spec.dtype ?? dtype;
    x[name] = b.input(name, dt === 'float64' ? dtype : dt, spec.shape);
  }
  const ys = c.build(b, x, dtype);
  const terms = (Array.isArray(ys) ? ys : [ys]).map((y, i) => {
    if (numel(y.shape) === 1 && !Array.isArray(ys)) return b.reshape(y, []);
    const r = b.constant(
      dtype,
      y.shape,
      castData(randn(seed + 1000 + i, numel(y.shape)), dtype) as Float64Array,
    );
    return b.reduceSum(
      b.mul(y, r),
      y.shape.map((_, k) => k),
      false,
    );
  });
  const loss = terms.reduce((acc, t) => b.add(acc, t));
  const wrt = c.wrt.map((n) => x[n]);
  if (withGrad) grad(b, loss, wrt, { lossName: 'loss' });
  else b.output(loss, 'loss');
  return { graph: b.graph, wrt };
}

async function open(graph: Graph, dtype: DType): Promise<EngineSession> {
  const g = dtype === 'float64' ? lowerForFloat64(graph) : graph;
  return createSession(encodeModel(g), {
    executionProvider: 'cpu',
    optimization: dtype === 'float64' ? 'basic' : 'all',
    threads: 1,
  });
}

export function feedsFor(
  c: GradCase,
  dtype: DType,
  values: Record<string, Float64Array>,
): Record<string, TensorValue> {
  const feeds: Record<string, TensorValue> = {};
  for (const [name, spec] of Object.entries(c.inputs)) {
    const dt = spec.dtype && spec.dtype !== 'float64' ? spec.dtype : dtype;
    feeds[name] = { dtype: dt, shape: spec.shape, data: castData(values[name], dt) };
  }
  return feeds;
}

export interface CheckOptions {
  seed?: number;
  /** FD step (default 1e-5): central differences, truncation O(h²) ≈ 1e-10, rounding ≈ 1e-16/h. */
  h?: number;
  /** Coordinates per wrt checked one by one (largest-|g| ones plus random ones). Default 12. */
  coords?: number;
  skipF32?: boolean;
}

export async function checkGrad(c: GradCase, opts: CheckOptions = {}): Promise<GradReport> {
  const seed = opts.seed ?? 1;
  const h = opts.h ?? 1e-5;
  const values: Record<string, Float64Array> = {};
  Object.entries(c.inputs).forEach(([name, spec], i) => {
    values[name] = spec.data ?? randn(seed + 17 * i, numel(spec.shape));
  });
  const fwd = await open(buildLoss(c, 'float64', seed, false).graph, 'float64');
  const bwd = await open(buildLoss(c, 'float64', seed, true).graph, 'float64');
  try {
    const out = await bwd.run(feedsFor(c, 'float64', values));
    const ad: Record<string, Float64Array> = {};
    for (const w of c.wrt) ad[w] = out[`grad.${w}`].data as Float64Array;
    const lossAt = async (vals: Record<string, Float64Array>) =>
      (await fwd.run(feedsFor(c, 'float64', vals))).loss.data[0] as number;

    let maxRelErr = 0;
    let coordsChecked = 0;
    for (const w of c.wrt) {
      const g = ad[w];
      const gmax = Math.max(...Array.from(g, Math.abs));
      if (!(gmax > 0)) throw new Error(`gradient of ${w} is identically zero: the check would prove nothing`);
      const order = Array.from(g.keys()).sort((a, b2) => Math.abs(g[b2]) - Math.abs(g[a]));
      const pick = new Set(order.slice(0, Math.ceil((opts.coords ?? 12) / 2)));
      const rand = randn(seed + 99, opts.coords ?? 12);
      for (const r of rand) {
        if (pick.size >= Math.min(opts.coords ?? 12, g.length)) break;
        pick.add(Math.floor(Math.abs(r * 7919)) % g.length);
      }
      for (const i of pick) {
        const plus = { ...values, [w]: Float64Array.from(values[w]) };
        const minus = { ...values, [w]: Float64Array.from(values[w]) };
        plus[w][i] += h;
        minus[w][i] -= h;
        const fd = ((await lossAt(plus)) - (await lossAt(minus))) / (2 * h);
        maxRelErr = Math.max(maxRelErr, Math.abs(fd - g[i]) / gmax);
        coordsChecked++;
      }
    }

    // Directional derivative along a random direction over all wrt values at once.
    const dir: Record<string, Float64Array> = {};
    let adDot = 0;
    c.wrt.forEach((w, k) => {
      dir[w] = randn(seed + 500 + k, values[w].length);
      for (let i = 0; i < dir[w].length; i++) adDot += dir[w][i] * ad[w][i];
    });
    const shifted = (sgn: number) => {
      const v = { ...values };
      for (const w of c.wrt) v[w] = Float64Array.from(values[w], (x, i) => x + sgn * h * dir[w][i]);
      return v;
    };
    const fdDot = ((await lossAt(shifted(1))) - (await lossAt(shifted(-1)))) / (2 * h);
    const directionalRelErr = Math.abs(fdDot - adDot) / Math.max(Math.abs(adDot), 1e-300);

    let f32RelErr = 0;
    if (!opts.skipF32) {
      const s32 = await open(buildLoss(c, 'float32', seed, true).graph, 'float32');
      try {
        const o32 = await s32.run(feedsFor(c, 'float32', values));
        for (const w of c.wrt) {
          const g = ad[w];
          const g32 = o32[`grad.${w}`].data as Float32Array;
          const gmax = Math.max(...Array.from(g, Math.abs));
          for (let i = 0; i < g.length; i++) f32RelErr = Math.max(f32RelErr, Math.abs(g32[i] - g[i]) / gmax);
        }
      } finally {
        await s32.release();
      }
    }
    return { maxRelErr, directionalRelErr, f32RelErr, coordsChecked };
  } finally {
    await fwd.release();
    await bwd.release();
  }
}
