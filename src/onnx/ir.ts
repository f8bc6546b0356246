/**
 * Static-shape graph IR: every value has a name, a dtype and a fully known shape; nodes are kept in
 * the order they were emitted (which is a topological order).
 */
import type { DType, TensorData } from './dtype.js';

export type Shape = readonly number[];

export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

export type Attr =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly s: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] };

export interface OpNode {
  readonly op: string;
  readonly name: string;
  /** Value names; '' marks an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, Attr>>;
  /** Id of the recompute segment this node was emitted in (see Builder.recompute). */
  readonly segment?: number;
}

/** Raw little-endian tensor bytes at `offset` in a file on disk (a weight never loaded into memory). */
export interface FileRegion {
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

export function isFileRegion(x: unknown): x is FileRegion {
  return typeof x === 'object' && x !== null && typeof (x as FileRegion).path === 'string';
}

/**
 * A weight or constant: `data` in memory (kept by reference: a 3 GB weight is never copied by the IR)
 * or `file`, bytes on disk that a saved model references in place (see saveModel).
 */
export interface Initializer {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
  readonly data?: TensorData;
  readonly file?: FileRegion;
}

export class Graph {
  readonly values = new Map<string, Value>();
  readonly nodes: OpNode[] = [];
  readonly inputs: string[] = [];
  readonly outputs: string[] = [];
  readonly initializers = new Map<string, Initializer>();
  /** value name → index of the node producing it */
  readonly producer = new Map<string, number>();
  /**
   * Graph inputs/outputs whose dimensions are symbolic in the written model (ONNX dim_param), by value
   * name: a name per dimension, undefined where the dimension stays fixed. The IR's own shapes are
   * those of the size the graph was built at; see `GraphBuilder.symbolic`.
   */
  readonly symbolicDims = new Map<string, readonly (string | undefined)[]>();

  constructor(readonly name = 'graph') {}

  value(name: string): Value {
    const v = this.values.get(name);
    if (!v) throw new Error(`graph has no value named '${name}'`);
    return v;
  }

  isInitializer(name: string): boolean {
    return this.initializers.has(name);
  }

  addValue(v: Value): Value {
    if (this.values.has(v.name)) throw new Error(`value name '${v.name}' is already used in the graph`);
    this.values.set(v.name, v);
    return v;
  }

  addNode(node: OpNode): void {
    for (const out of node.outputs) {
      if (this.producer.has(out)) throw new Error(`value '${out}' already has a producer`);
      this.producer.set(out, this.nodes.length);
    }
    this.nodes.push(node);
  }
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeEq(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

/** Numpy-style broadcast of two shapes; throws on mismatch. */
export function broadcastShapes(a: Shape, b: Shape, what = 'broadcast'): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${what}: shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return a;
}
