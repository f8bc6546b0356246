/**
 * The builder core: name scopes, graph inputs, weights, de-duplicated constants, outputs and the
 * generic `emit`. Op methods live in ops/* (forward + gradient rule together) and are exposed as
 * methods by `Builder` (builder.ts).
 */
import { createHash } from 'node:crypto';
import { BYTES_PER_ELEMENT, type DType, expectedArrayName, fromNumbers, type TensorData } from './dtype.js';
import {
  type Attr,
  type FileRegion,
  formatShape,
  Graph,
  isFileRegion,
  numel,
  type Shape,
  type Value,
} from './ir.js';

export interface OutSpec {
  dtype: DType;
  shape: Shape;
}

/** A value, or a plain number that becomes a scalar constant of the other operand's dtype. */
export type Operand = Value | number;

export class GraphBuilder {
  readonly graph: Graph;
  private readonly scopes: string[] = [];
  private readonly nameCounts = new Map<string, number>();
  private readonly constCache = new Map<string, Value>();
  private segment: number | undefined;
  private segmentCount = 0;

  constructor(name = 'graph') {
    this.graph = new Graph(name);
  }

  /** Runs `fn` with `name` appended to the value-name scope: `b.scope('attn2', () => b.scope('to_k', …))`. */
  scope<T>(name: string | number, fn: () => T): T {
    this.scopes.push(String(name));
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  get scopePath(): string {
    return this.scopes.join('.');
  }

  /** Scoped name for `leaf`, e.g. `input_blocks.1.1.proj_in.weight`. */
  scoped(leaf: string): string {
    return this.scopes.length ? `${this.scopePath}.${leaf}` : leaf;
  }

  /** A fresh value name under the current scope (suffixed `_1`, `_2`… on reuse). */
  freshName(hint: string): string {
    const base = this.scoped(hint);
    let name = base;
    let n = this.nameCounts.get(base) ?? 0;
    while (this.graph.values.has(name)) name = `${base}_${++n}`;
    this.nameCounts.set(base, n);
    return name;
  }

  /** A graph input fed at run time. Named exactly `name` (no scope). */
  input(name: string, dtype: DType, shape: Shape): Value {
    const v = this.graph.addValue({ name, dtype, shape: [...shape] });
    this.graph.inputs.push(name);
    return v;
  }

  /**
   * Declares dimensions of a graph input or output symbolic (written as ONNX dim_param, so one model
   * serves every size). Only sound when every op between them is size-agnostic: shapes come from
   * `reshape` patterns with 0/−1, `reshapeLike` or `resizeNearestLike`, never from build-time sizes.
   */
  symbolic(v: Value, dims: readonly (string | undefined)[]): Value {
    if (dims.length !== v.shape.length)
      throw new Error(`symbolic: ${dims.length} names for '${v.name}' of rank ${v.shape.length}`);
    this.graph.symbolicDims.set(v.name, [...dims]);
    return v;
  }

  /**
   * A weight named `<scope>.<leaf>` (so the value *is* the checkpoint key). The array is kept by
   * reference, not copied. Its type gives the dtype unless `dtype` is passed (Uint16Array → float16).
   */
  param(leaf: string, data: TensorData | FileRegion, shape: Shape, dtype?: DType): Value {
    return this.initializer(this.scoped(leaf), data, shape, dtype);
  }

  /**
   * An initializer with an exact (unscoped) name: data in memory, or a region of a file on disk (then
   * `dtype` is required and the saved model references the file; the bytes never enter the JS heap).
   */
  initializer(name: string, data: TensorData | FileRegion, shape: Shape, dtype?: DType): Value {
    if (isFileRegion(data)) {
      if (!dtype) throw new Error(`initializer '${name}': an on-disk weight needs its dtype`);
      if (data.length !== numel(shape) * BYTES_PER_ELEMENT[dtype])
        throw new Error(
          `initializer '${name}': ${dtype}${formatShape(shape)} needs ${numel(shape) * BYTES_PER_ELEMENT[dtype]} bytes, ${data.path} holds ${data.length}`,
        );
      const v = this.graph.addValue({ name, dtype, shape: [...shape] });
      this.graph.initializers.set(name, { name, dtype, shape: [...shape], file: data });
      return v;
    }
    const dt = dtype ?? dtypeOfArray(data);
    if (data.constructor.name !== expectedArrayName(dt)) {
      throw new Error(
        `initializer '${name}': ${dt} needs a ${expectedArrayName(dt)}, got ${data.constructor.name}`,
      );
    }
    if (data.length !== numel(shape)) {
      throw new Error(
        `initializer '${name}': shape ${formatShape(shape)} needs ${numel(shape)} elements, got ${data.length}`,
      );
    }
    const v = this.graph.addValue({ name, dtype: dt, shape: [...shape] });
    this.graph.initializers.set(name, { name, dtype: dt, shape: [...shape], data });
    return v;
  }

  /** A constant initializer, shared by every use of the same dtype, shape and content. */
  constant(dtype: DType, shape: Shape, values: ArrayLike<number> | TensorData): Value {
    const data: TensorData =
      ArrayBuffer.isView(values) && values.constructor.name === expectedArrayName(dtype)
        ? (values as TensorData)
        : fromNumbers(dtype, values as ArrayLike<number>);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const content =
      bytes.length <= 64
        ? Buffer.from(bytes).toString('hex')
        : createHash('sha1').update(bytes).digest('hex');
    const key = `${dtype}|${shape.join(',')}|${content}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.uniqueConstName(dtype, shape, data);
    const v = this.initializer(name, data, shape, dtype);
    this.constCache.set(key, v);
    return v;
  }

  scalar(value: number, dtype: DType): Value {
    return this.constant(dtype, [], [value]);
  }

  /** 1-D int64 constant (shapes, axes, pads). */
  int64s(values: readonly number[]): Value {
    return this.constant('int64', [values.length], values);
  }

  operand(x: Operand, like: Value): Value {
    return typeof x === 'number' ? this.scalar(x, like.dtype) : x;
  }

  /** Marks `v` as a graph output, renamed to `name` through an Identity when asked. */
  output(v: Value, name?: string): Value {
    let out = v;
    if (name && name !== v.name) {
      out = this.graph.addValue({ name, dtype: v.dtype, shape: v.shape });
      this.graph.addNode({
        op: 'Identity',
        name: `${name}/Identity`,
        inputs: [v.name],
        outputs: [name],
        attrs: {},
      });
    }
    if (this.graph.outputs.includes(out.name)) throw new Error(`'${out.name}' is already a graph output`);
    this.graph.outputs.push(out.name);
    return out;
  }

  /**
   * Emits one ONNX node. Output shapes are computed by the caller (every op infers its shape in TS,
   * so backward rules always know them). `hint` names the outputs under the current scope.
   */
  emit(
    op: string,
    inputs: readonly (Value | undefined)[],
    outs: readonly OutSpec[],
    attrs: Record<string, Attr> = {},
    hint?: string,
  ): Value[] {
    const outputs = outs.map((o, i) =>
      this.graph.addValue({
        name: this.freshName(outs.length > 1 ? `${hint ?? op}.${i}` : (hint ?? op)),
        dtype: o.dtype,
        shape: [...o.shape],
      }),
    );
    for (const x of inputs)
      if (x && !this.graph.values.has(x.name))
        throw new Error(`${op}: input '${x.name}' is not in this graph`);
    this.graph.addNode({
      op,
      name: `${outputs[0].name}/${op}`,
      inputs: inputs.map((x) => x?.name ?? ''),
      outputs: outputs.map((v) => v.name),
      attrs,
      ...(this.segment !== undefined ? { segment: this.segment } : {}),
    });
    return outputs;
  }

  emit1(
    op: string,
    inputs: readonly (Value | undefined)[],
    out: OutSpec,
    attrs: Record<string, Attr> = {},
    hint?: string,
  ): Value {
    return this.emit(op, inputs, [out], attrs, hint)[0];
  }

  /**
   * Marks the nodes `fn` emits as one recompute segment: `grad` does not keep their intermediate
   * values for the backward pass but re-emits the segment inside it, after the gradient reaching
   * the segment exists, so ORT can free the forward activations (e.g. attention probabilities).
   */
  recompute<T>(fn: () => T): T {
    if (this.segment !== undefined) return fn();
    this.segment = this.segmentCount++;
    try {
      return fn();
    } finally {
      this.segment = undefined;
    }
  }

  private uniqueConstName(dtype: DType, shape: Shape, data: TensorData): string {
    const preview =
      data.length <= 4
        ? Array.from(data as ArrayLike<number | bigint>, (x) => String(x)).join('_')
        : `${shape.join('x')}`;
    const base = `const.${dtype}.${preview.replace(/[^0-9A-Za-z_.-]/g, 'm')}`;
    let name = base;
    for (let n = 1; this.graph.values.has(name); n++) name = `${base}_${n}`;
    return name;
  }
}

export function dtypeOfArray(data: TensorData): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Uint16Array) return 'float16';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Int8Array) return 'int8';
  return 'uint8';
}

export const attr = {
  i: (i: number): Attr => ({ i }),
  f: (f: number): Attr => ({ f }),
  s: (s: string): Attr => ({ s }),
  ints: (ints: readonly number[]): Attr => ({ ints }),
  floats: (floats: readonly number[]): Attr => ({ floats }),
};
