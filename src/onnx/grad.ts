/**
 * Reverse-mode differentiation of a built graph: `grad(b, loss, wrt)` appends the backward nodes to
 * the same graph and marks `loss` and one gradient per `wrt` value as graph outputs.
 *
 * Only nodes on a path from a `wrt` value to the loss get a rule applied; gradients of values used
 * more than once are summed. Nodes emitted inside `b.recompute(…)` are re-emitted for the backward
 * (gated on the incoming gradient so ORT cannot schedule them early), so their forward activations
 * die right after the forward use.
 */
import type { GraphBuilder } from './core.js';
import { isFloat } from './dtype.js';
import { numel, type OpNode, type Value } from './ir.js';
import { add, cast, mul } from './ops/elementwise.js';
import { type GradContext, gradRules } from './ops/registry.js';
import { expand, slice } from './ops/shape.js';
import { reshapeRaw } from './ops/util.js';
import './ops/attention.js';
import './ops/conv.js';
import './ops/matmul.js';
import './ops/norm.js';
import './ops/reduce.js';

export interface GradOptions {
  /** Output name for each gradient; default `grad.<wrt name>`. */
  names?: readonly string[];
  /** Name of the loss output when the loss is not already a graph output (default: its own name). */
  lossName?: string;
}

export function grad(b: GraphBuilder, loss: Value, wrt: readonly Value[], opts: GradOptions = {}): Value[] {
  const g = b.graph;
  if (numel(loss.shape) !== 1)
    throw new Error(`grad: loss '${loss.name}' must have one element, has shape [${loss.shape}]`);
  const forwardCount = g.nodes.length;
  const wrtNames = new Set(wrt.map((w) => w.name));

  // Values that depend on some wrt value.
  const requires = new Set(wrtNames);
  for (let i = 0; i < forwardCount; i++) {
    const n = g.nodes[i];
    if (n.inputs.some((x) => requires.has(x))) for (const o of n.outputs) requires.add(o);
  }
  if (!requires.has(loss.name))
    throw new Error(`grad: loss '${loss.name}' does not depend on any of ${[...wrtNames].join(', ')}`);

  // Ancestors of the loss.
  const feedsLoss = new Set([loss.name]);
  for (let i = forwardCount - 1; i >= 0; i--) {
    const n = g.nodes[i];
    if (n.outputs.some((o) => feedsLoss.has(o))) for (const x of n.inputs) if (x) feedsLoss.add(x);
  }

  const contributions = new Map<string, Value[]>();
  const contribute = (name: string, v: Value | undefined) => {
    if (!v) return;
    const list = contributions.get(name) ?? [];
    list.push(v);
    contributions.set(name, list);
  };
  const total = (name: string): Value | undefined => {
    const list = contributions.get(name);
    if (!list?.length) return undefined;
    const sum = b.scope('grad', () => list.reduce((acc, v) => add(b, acc, v, 'sum_grad')));
    contributions.set(name, [sum]);
    return sum;
  };

  contribute(loss.name, b.constant(loss.dtype, loss.shape, [1]));
  const recompute = new SegmentRecompute(b);
  let lastGrad: Value | undefined;

  for (let i = forwardCount - 1; i >= 0; i--) {
    const node = g.nodes[i];
    if (!node.outputs.some((o) => requires.has(o) && feedsLoss.has(o))) continue;
    const gy = node.outputs.map(total);
    if (gy.every((x) => !x)) continue;
    const rule = gradRules.get(node.op);
    if (!rule) throw new Error(`grad: no gradient rule for ${node.op} ('${node.name}')`);
    const seg = node.segment;
    // Recomputation waits for the newest gradient computed so far (not just this node's), so
    // successive segments (e.g. attention chunks) are re-emitted one after another, not all at once.
    const trigger = lastGrad ?? gy.find((x) => x)!;
    const fwd = (name: string) => (seg === undefined ? g.value(name) : recompute.value(seg, name, trigger));
    const ctx: GradContext = {
      b,
      node,
      x: (k) => fwd(node.inputs[k]),
      y: (k) => fwd(node.outputs[k]),
      needs: (k) => requires.has(node.inputs[k]),
      attrI: (name, fallback) => attrNumber(node, name, 'i', fallback),
      attrF: (name, fallback) => attrNumber(node, name, 'f', fallback),
      attrInts: (name, fallback) => {
        const a = node.attrs[name];
        if (a && 'ints' in a) return a.ints;
        if (fallback) return fallback;
        throw new Error(`${node.op} '${node.name}': attribute ${name} missing`);
      },
      attrS: (name, fallback) => {
        const a = node.attrs[name];
        if (a && 's' in a) return a.s;
        if (fallback !== undefined) return fallback;
        throw new Error(`${node.op} '${node.name}': attribute ${name} missing`);
      },
    };
    const scopeName = node.outputs[0];
    const gx = b.scope(`grad.${scopeName}`, () => rule(ctx, gy));
    node.inputs.forEach((name, k) => {
      if (name && requires.has(name) && gx[k]) {
        contribute(name, gx[k]);
        lastGrad = gx[k];
      }
    });
  }

  if (!g.outputs.includes(loss.name)) b.output(loss, opts.lossName);
  return wrt.map((w, k) => {
    const gw = total(w.name) ?? expand(b, b.scalar(0, w.dtype), w.shape, 'zeros');
    return b.output(gw, opts.names?.[k] ?? `grad.${w.name}`);
  });
}

function attrNumber(node: OpNode, name: string, kind: 'i' | 'f', fallback?: number): number {
  const a = node.attrs[name] as Record<string, unknown> | undefined;
  if (a && kind in a) return a[kind] as number;
  if (fallback !== undefined) return fallback;
  throw new Error(`${node.op} '${node.name}': attribute ${name} missing`);
}

/**
 * Re-emits forward values of recompute segments on demand, once per segment and value. Values from
 * outside the segment are used as they are; only a re-emitted node with no re-emitted input gets one
 * input gated, which is enough to hold the whole re-emitted chain back until the backward reaches it.
 */
class SegmentRecompute {
  private readonly memo = new Map<string, Value>();
  private readonly gates = new Map<number, Value>();

  constructor(private readonly b: GraphBuilder) {}

  value(seg: number, name: string, trigger: Value): Value {
    const g = this.b.graph;
    const p = g.producer.get(name);
    if (p === undefined || g.nodes[p].segment !== seg) return g.value(name);
    const key = `${seg}|${name}`;
    const hit = this.memo.get(key);
    if (hit) return hit;
    const node = g.nodes[p];
    const internal = (x: string) =>
      x !== '' && g.producer.has(x) && g.nodes[g.producer.get(x)!].segment === seg;
    let inputs = node.inputs.map((x) => (internal(x) ? this.value(seg, x, trigger).name : x));
    if (!node.inputs.some(internal)) {
      const k = node.inputs.findIndex((x) => x && !g.isInitializer(x) && isFloat(g.value(x).dtype));
      if (k >= 0) inputs = inputs.map((x, i) => (i === k ? this.gated(seg, g.value(x), trigger).name : x));
    }
    const outputs = node.outputs.map((o) => {
      const v = g.value(o);
      return g.addValue({ name: uniqueName(g.values, `${o}.recomputed`), dtype: v.dtype, shape: v.shape });
    });
    g.addNode({
      ...node,
      segment: undefined,
      name: `${outputs[0].name}/${node.op}`,
      inputs,
      outputs: outputs.map((v) => v.name),
    });
    outputs.forEach((v, k) => {
      this.memo.set(`${seg}|${node.outputs[k]}`, v);
    });
    return this.memo.get(key)!;
  }

  /** x + 0·t[0]: equal to x, but only computable once the backward value `trigger` exists. */
  private gated(seg: number, x: Value, trigger: Value): Value {
    const b = this.b;
    return b.scope(`recompute.${seg}`, () => {
      let gate = this.gates.get(seg);
      if (!gate) {
        const flat = reshapeRaw(b, trigger, [numel(trigger.shape)]);
        gate = mul(b, slice(b, flat, [0], [1], [0]), 0, 'gate');
        this.gates.set(seg, gate);
      }
      const typed = cast(b, gate, x.dtype);
      const shaped = reshapeRaw(
        b,
        typed,
        x.shape.map(() => 1),
      );
      return add(b, x, shaped, 'gated');
    });
  }
}

function uniqueName(values: Map<string, Value>, base: string): string {
  let name = base;
  for (let n = 1; values.has(name); n++) name = `${base}_${n}`;
  return name;
}
