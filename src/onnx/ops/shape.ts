/** Layout ops: Reshape, Transpose, Concat, Split, Slice, Pad, Expand, Gather, nearest Resize. */
import type { GraphBuilder } from '../core.js';
import { broadcastShapes, formatShape, normAxis, numel, type Value } from '../ir.js';
import { defineGrad } from './registry.js';
import { inversePerm, permute, reduceSumRaw, reshapeRaw, unbroadcast } from './util.js';

/**
 * Reshape; one −1 is inferred, 0 keeps the input's dimension. The node carries the pattern as given
 * (ONNX Reshape has the same semantics), so a pattern that names only fixed sizes works at any size.
 */
export function reshape(b: GraphBuilder, x: Value, shape: readonly number[], hint = 'reshape'): Value {
  const dims = shape.map((d, i) => (d === 0 ? x.shape[i] : d));
  const unknown = dims.indexOf(-1);
  if (unknown >= 0) {
    const known = dims.reduce((p, d, i) => (i === unknown ? p : p * d), 1);
    if (known === 0 || numel(x.shape) % known !== 0) {
      throw new Error(`reshape ${formatShape(x.shape)} → ${formatShape(shape)}: sizes differ`);
    }
    dims[unknown] = numel(x.shape) / known;
  }
  return reshapeRaw(b, x, dims, hint, shape.some((d) => d <= 0) ? shape : undefined);
}

/** The shape of `x` as an int64 [rank] value (read at run time). */
export function shapeOf(b: GraphBuilder, x: Value, hint = 'shape'): Value {
  return b.emit1('Shape', [x], { dtype: 'int64', shape: [x.shape.length] }, {}, hint);
}

/** Reshape `x` to the run-time shape of `like` (same element count). */
export function reshapeLike(b: GraphBuilder, x: Value, like: Value, hint = 'reshape'): Value {
  if (numel(x.shape) !== numel(like.shape))
    throw new Error(`reshapeLike ${formatShape(x.shape)} → ${formatShape(like.shape)}: sizes differ`);
  return b.emit1('Reshape', [x, shapeOf(b, like)], { dtype: x.dtype, shape: [...like.shape] }, {}, hint);
}

export function transpose(b: GraphBuilder, x: Value, perm: readonly number[], hint = 'transpose'): Value {
  if (perm.length !== x.shape.length)
    throw new Error(`transpose: perm ${formatShape(perm)} for rank ${x.shape.length}`);
  return b.emit1(
    'Transpose',
    [x],
    { dtype: x.dtype, shape: permute(x.shape, perm) },
    { perm: { ints: perm } },
    hint,
  );
}

export function concat(b: GraphBuilder, xs: readonly Value[], axis: number, hint = 'concat'): Value {
  if (xs.length === 0) throw new Error('concat: no inputs');
  const rank = xs[0].shape.length;
  const a = normAxis(axis, rank);
  const shape = [...xs[0].shape];
  shape[a] = 0;
  for (const x of xs) {
    if (
      x.shape.length !== rank ||
      x.shape.some((d, i) => i !== a && d !== xs[0].shape[i]) ||
      x.dtype !== xs[0].dtype
    ) {
      throw new Error(
        `concat on axis ${axis}: ${xs.map((v) => `${v.dtype}${formatShape(v.shape)}`).join(', ')} do not match`,
      );
    }
    shape[a] += x.shape[a];
  }
  return b.emit1('Concat', xs, { dtype: xs[0].dtype, shape }, { axis: { i: a } }, hint);
}

export function split(
  b: GraphBuilder,
  x: Value,
  sizes: readonly number[],
  axis: number,
  hint = 'split',
): Value[] {
  const a = normAxis(axis, x.shape.length);
  if (sizes.reduce((p, s) => p + s, 0) !== x.shape[a]) {
    throw new Error(
      `split ${formatShape(x.shape)} axis ${axis} into ${formatShape(sizes)}: sizes do not add up`,
    );
  }
  const outs = sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === a ? s : d)) }));
  return b.emit('Split', [x, b.int64s(sizes)], outs, { axis: { i: a } }, hint);
}

/** Slice with static bounds (negative indices and steps allowed, clamped as ONNX does). */
export function slice(
  b: GraphBuilder,
  x: Value,
  starts: readonly number[],
  ends: readonly number[],
  axes?: readonly number[],
  steps?: readonly number[],
  hint = 'slice',
): Value {
  const ax = (axes ?? starts.map((_, i) => i)).map((a) => normAxis(a, x.shape.length));
  const st = steps ?? ax.map(() => 1);
  const shape = [...x.shape];
  ax.forEach((a, i) => {
    const dim = x.shape[a];
    const step = st[i];
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    let s = starts[i] < 0 ? starts[i] + dim : starts[i];
    let e = ends[i] < 0 ? ends[i] + dim : ends[i];
    if (step > 0) {
      s = clamp(s, 0, dim);
      e = clamp(e, 0, dim);
      shape[a] = Math.max(0, Math.ceil((e - s) / step));
    } else {
      s = clamp(s, 0, dim - 1);
      e = clamp(e, -1, dim - 1);
      shape[a] = Math.max(0, Math.ceil((s - e) / -step));
    }
  });
  const inputs = [x, b.int64s(starts), b.int64s(ends), b.int64s(ax), b.int64s(st)];
  return b.emit1('Slice', inputs, { dtype: x.dtype, shape }, {}, hint);
}

/** Constant padding; `pads` is ONNX order [x1_begin, x2_begin, …, x1_end, x2_end, …] over all axes. */
export function pad(b: GraphBuilder, x: Value, pads: readonly number[], value = 0, hint = 'pad'): Value {
  const r = x.shape.length;
  if (pads.length !== 2 * r) throw new Error(`pad: ${pads.length} pads for rank ${r}`);
  if (pads.every((p) => p === 0)) return x;
  const shape = x.shape.map((d, i) => d + pads[i] + pads[i + r]);
  return b.emit1(
    'Pad',
    [x, b.int64s(pads), b.scalar(value, x.dtype)],
    { dtype: x.dtype, shape },
    { mode: { s: 'constant' } },
    hint,
  );
}

export function expand(b: GraphBuilder, x: Value, shape: readonly number[], hint = 'expand'): Value {
  const out = broadcastShapes(x.shape, shape, 'Expand');
  return b.emit1('Expand', [x, b.int64s(shape)], { dtype: x.dtype, shape: out }, {}, hint);
}

/** `data` indexed along `axis` by int64 `indices` (e.g. an embedding lookup). */
export function gather(b: GraphBuilder, data: Value, indices: Value, axis = 0, hint = 'gather'): Value {
  const a = normAxis(axis, data.shape.length);
  if (indices.dtype !== 'int64' && indices.dtype !== 'int32')
    throw new Error(`gather: indices '${indices.name}' must be integer`);
  const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
  return b.emit1('Gather', [data, indices], { dtype: data.dtype, shape }, { axis: { i: a } }, hint);
}

/** Nearest-neighbour ×2 upsampling of [N, C, H, W]: out(y, x) = in(⌊y/2⌋, ⌊x/2⌋). */
export function upsampleNearest2x(b: GraphBuilder, x: Value, hint = 'upsample'): Value {
  const [n, c, h, w] = x.shape;
  const scales = b.constant('float32', [4], [1, 1, 2, 2]);
  return b.emit1(
    'Resize',
    [x, undefined, scales],
    { dtype: x.dtype, shape: [n, c, 2 * h, 2 * w] },
    {
      mode: { s: 'nearest' },
      coordinate_transformation_mode: { s: 'asymmetric' },
      nearest_mode: { s: 'floor' },
    },
    hint,
  );
}

/**
 * Source index of each output index in PyTorch's legacy 'nearest' resize to a given size
 * (`F.interpolate(x, size=…, mode='nearest')`): min(⌊d · s⌋, in − 1) with s = in/out and the
 * product both rounded to float32, as ATen computes them.
 */
export function nearestSourceIndices(inSize: number, outSize: number): number[] {
  const scale = Math.fround(inSize / outSize);
  return Array.from({ length: outSize }, (_, d) => Math.min(Math.floor(Math.fround(d * scale)), inSize - 1));
}

/**
 * Nearest resize of [N, C, H, W] to [N, C, height, width] with PyTorch's legacy 'nearest' semantics.
 * An exact ×2 is the Resize node of `upsampleNearest2x`; any other size gathers rows and columns with
 * indices fixed at build time, so the float32 rounding is ATen's by construction (ORT's Resize divides
 * by out/in instead) and the gradient is Gather's.
 */
export function resizeNearest(
  b: GraphBuilder,
  x: Value,
  [height, width]: readonly [number, number],
  hint = 'upsample',
): Value {
  const [, , h, w] = x.shape;
  if (height === 2 * h && width === 2 * w) return upsampleNearest2x(b, x, hint);
  let y = x;
  if (height !== h) y = gather(b, y, b.int64s(nearestSourceIndices(h, height)), 2, `${hint}_rows`);
  if (width !== w) y = gather(b, y, b.int64s(nearestSourceIndices(w, width)), 3, `${hint}_cols`);
  return y;
}

/**
 * `resizeNearest` to the run-time height and width of `like` [·, ·, H, W]: the same source indices
 * (min(⌊d·s⌋, in − 1), s = in/out, both rounded to float32 as ATen does) computed in the graph from
 * the two shapes, so one model serves every size. Two Gathers, also for an exact ×2.
 */
export function resizeNearestLike(b: GraphBuilder, x: Value, like: Value, hint = 'upsample'): Value {
  const [n, c] = x.shape;
  const [, , height, width] = like.shape;
  if (x.shape.length !== 4 || like.shape.length !== 4)
    throw new Error(`resizeNearestLike: ${formatShape(x.shape)} to ${formatShape(like.shape)}`);
  const inShape = shapeOf(b, x, `${hint}_in_shape`);
  const outShape = shapeOf(b, like, `${hint}_out_shape`);
  const dim = (shape: Value, axis: number, name: string) =>
    b.emit1(
      'Gather',
      [shape, b.constant('int64', [], [axis])],
      { dtype: 'int64', shape: [] },
      { axis: { i: 0 } },
      name,
    );
  const toF = (v: Value, name: string) =>
    b.emit1('Cast', [v], { dtype: 'float32', shape: v.shape }, { to: { i: 1 } }, name);
  const indices = (axis: number, size: number, name: string) => {
    const inSize = dim(inShape, axis, `${name}_in`);
    const outSize = dim(outShape, axis, `${name}_out`);
    const scale = b.emit1(
      'Div',
      [toF(inSize, `${name}_in_f`), toF(outSize, `${name}_out_f`)],
      { dtype: 'float32', shape: [] },
      {},
      `${name}_scale`,
    );
    const d = b.emit1(
      'Range',
      [b.constant('int64', [], [0]), outSize, b.constant('int64', [], [1])],
      { dtype: 'int64', shape: [size] },
      {},
      `${name}_d`,
    );
    const src = b.emit1(
      'Floor',
      [
        b.emit1(
          'Mul',
          [toF(d, `${name}_d_f`), scale],
          { dtype: 'float32', shape: [size] },
          {},
          `${name}_pos`,
        ),
      ],
      { dtype: 'float32', shape: [size] },
      {},
      `${name}_floor`,
    );
    const last = b.emit1(
      'Sub',
      [inSize, b.constant('int64', [], [1])],
      { dtype: 'int64', shape: [] },
      {},
      `${name}_last`,
    );
    const idx = b.emit1(
      'Cast',
      [src],
      { dtype: 'int64', shape: [size] },
      { to: { i: 7 } },
      `${name}_idx_raw`,
    );
    return b.emit1('Min', [idx, last], { dtype: 'int64', shape: [size] }, {}, `${name}_idx`);
  };
  const rows = gather(b, x, indices(2, height, `${hint}_rows`), 2, `${hint}_rows`);
  const out = gather(b, rows, indices(3, width, `${hint}_cols`), 3, `${hint}_cols`);
  if (out.shape[0] !== n || out.shape[1] !== c) throw new Error('resizeNearestLike: shape bug');
  return out;
}

// ---- gradient rules -------------------------------------------------------------------------

defineGrad('Reshape', (c, [g]) => [g && reshapeRaw(c.b, g, c.x(0).shape, 'reshape_grad')]);

defineGrad('Transpose', (c, [g]) => [
  g && transpose(c.b, g, inversePerm(c.attrInts('perm')), 'transpose_grad'),
]);

defineGrad('Concat', (c, [g]) => {
  if (!g) return [];
  const axis = c.attrI('axis');
  const sizes = c.node.inputs.map((_, i) => c.x(i).shape[axis]);
  return split(c.b, g, sizes, axis, 'concat_grad');
});

defineGrad('Split', (c, gy) => {
  if (gy.every((g) => !g)) return [];
  const axis = c.attrI('axis');
  const parts = c.node.outputs.map(
    (_, i) => gy[i] ?? expand(c.b, c.b.scalar(0, c.x(0).dtype), c.y(i).shape, 'zeros'),
  );
  return [concat(c.b, parts, axis, 'split_grad')];
});

defineGrad('Slice', (c, [g]) => {
  if (!g) return [];
  const x = c.x(0);
  const bound = (i: number) => {
    const init = c.b.graph.initializers.get(c.node.inputs[i]);
    if (!init) throw new Error(`Slice '${c.node.name}': gradient needs constant bounds`);
    return Array.from(init.data! as BigInt64Array, Number);
  };
  const [starts, axes, steps] = [bound(1), bound(3), bound(4)];
  const pads = new Array<number>(2 * x.shape.length).fill(0);
  axes.forEach((a, i) => {
    if (steps[i] !== 1) throw new Error(`Slice '${c.node.name}': gradient supports step 1 only`);
    const s = Math.min(Math.max(starts[i] < 0 ? starts[i] + x.shape[a] : starts[i], 0), x.shape[a]);
    pads[a] = s;
    pads[a + x.shape.length] = x.shape[a] - s - g.shape[a];
  });
  return [pad(c.b, g, pads, 0, 'slice_grad')];
});

defineGrad('Pad', (c, [g]) => {
  if (!g) return [];
  const x = c.x(0);
  if (c.attrS('mode', 'constant') !== 'constant')
    throw new Error(`Pad '${c.node.name}': gradient supports constant mode only`);
  const pads = Array.from(c.b.graph.initializers.get(c.node.inputs[1])!.data! as BigInt64Array, Number);
  const axes = x.shape.map((_, i) => i);
  return [
    slice(
      c.b,
      g,
      axes.map((i) => pads[i]),
      axes.map((i) => pads[i] + x.shape[i]),
      axes,
      undefined,
      'pad_grad',
    ),
  ];
});

defineGrad('Expand', (c, [g]) => [g && unbroadcast(c.b, g, c.x(0).shape)]);

defineGrad('Gather', (c, [g]) => {
  if (!g || !c.needs(0)) return [];
  const data = c.x(0);
  const axis = c.attrI('axis', 0);
  const idx = c.x(1);
  const r = idx.shape.length;
  const rows = numel(idx.shape);
  // Scatter along axis 0: bring the index dimensions of g (and the gathered axis of data) to the front.
  const axes = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  const gFront =
    axis === 0
      ? g
      : transpose(c.b, g, [...axes(axis, axis + r), ...axes(0, axis), ...axes(axis + r, g.shape.length)]);
  const rest = [...data.shape.slice(0, axis), ...data.shape.slice(axis + 1)];
  const flatIdx = reshapeRaw(
    c.b,
    idx.dtype === 'int64'
      ? idx
      : c.b.emit1('Cast', [idx], { dtype: 'int64', shape: idx.shape }, { to: { i: 7 } }),
    [rows, 1],
  );
  const updates = reshapeRaw(c.b, gFront, [rows, ...rest]);
  const front = [data.shape[axis], ...rest];
  const zeros = expand(c.b, c.b.scalar(0, data.dtype), front, 'zeros');
  const summed = c.b.emit1(
    'ScatterND',
    [zeros, flatIdx, updates],
    { dtype: data.dtype, shape: front },
    { reduction: { s: 'add' } },
    'gather_grad',
  );
  return [
    axis === 0 ? summed : transpose(c.b, summed, [...axes(1, axis + 1), 0, ...axes(axis + 1, front.length)]),
  ];
});

defineGrad('Resize', (c, [g]) => {
  if (!g) return [];
  const [n, ch, h, w] = c.x(0).shape;
  const blocks = reshapeRaw(c.b, g, [n, ch, h, 2, w, 2]);
  return [reshapeRaw(c.b, reduceSumRaw(c.b, blocks, [3, 5], false), [n, ch, h, w], 'upsample_grad')];
});
