/**
 * 2-D convolution (group 1, dilation 1): 1×1, 3×3 stride 1 pad 1, 3×3 stride 2 with symmetric
 * (UNet) or right/bottom-only (VAE) padding. Backward: dX = ConvTranspose(dY, W) with the same W;
 * dW by im2col; db by ReduceSum.
 */
import type { GraphBuilder } from '../core.js';
import { formatShape, type Value } from '../ir.js';
import { matmul } from './matmul.js';
import { reduceSum } from './reduce.js';
import { defineGrad } from './registry.js';
import { concat, pad, reshape, slice, transpose } from './shape.js';
import { reshapeRaw } from './util.js';

export interface ConvOptions {
  stride?: number;
  /** [top, left, bottom, right]; default: k//2 on every side ("same" for odd k at stride 1). */
  pads?: readonly [number, number, number, number];
}

export function convOutSize(
  size: number,
  k: number,
  stride: number,
  padBegin: number,
  padEnd: number,
): number {
  return Math.floor((size + padBegin + padEnd - k) / stride) + 1;
}

export function conv2d(
  b: GraphBuilder,
  x: Value,
  w: Value,
  bias: Value | undefined,
  opts: ConvOptions = {},
  hint = 'conv',
): Value {
  const [n, cin, h, wd] = x.shape;
  const [cout, cin2, kh, kw] = w.shape;
  if (x.shape.length !== 4 || w.shape.length !== 4 || cin !== cin2) {
    throw new Error(
      `conv2d: input ${formatShape(x.shape)} and weight '${w.name}' ${formatShape(w.shape)} do not match`,
    );
  }
  const s = opts.stride ?? 1;
  const pads = opts.pads ?? [kh >> 1, kw >> 1, kh >> 1, kw >> 1];
  const shape = [n, cout, convOutSize(h, kh, s, pads[0], pads[2]), convOutSize(wd, kw, s, pads[1], pads[3])];
  return b.emit1(
    'Conv',
    bias ? [x, w, bias] : [x, w],
    { dtype: x.dtype, shape },
    {
      kernel_shape: { ints: [kh, kw] },
      strides: { ints: [s, s] },
      pads: { ints: pads },
    },
    hint,
  );
}

/**
 * The kh·kw strided windows of padded x, stacked tap-major on the channel axis:
 * [N, kh·kw·Cin, Ho·Wo]. Shared by the dW rule and the float64 lowering of Conv.
 */
export function im2col(
  b: GraphBuilder,
  x: Value,
  kh: number,
  kw: number,
  stride: number,
  pads: readonly number[],
  ho: number,
  wo: number,
): Value {
  const [n, cin] = x.shape;
  const xp = pad(b, x, [0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]]);
  const taps: Value[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      taps.push(
        slice(
          b,
          xp,
          [i, j],
          [i + (ho - 1) * stride + 1, j + (wo - 1) * stride + 1],
          [2, 3],
          [stride, stride],
          'tap',
        ),
      );
    }
  }
  const cols = taps.length === 1 ? taps[0] : concat(b, taps, 1, 'im2col');
  return reshapeRaw(b, cols, [n, kh * kw * cin, ho * wo]);
}

/** W [Cout, Cin, kh, kw] → [Cout, kh·kw·Cin], matching im2col's tap-major order. */
export function weightAsMatrix(b: GraphBuilder, w: Value): Value {
  const [cout, cin, kh, kw] = w.shape;
  return reshapeRaw(b, transpose(b, w, [0, 2, 3, 1]), [cout, kh * kw * cin]);
}

function convGeometry(c: { attrInts(n: string, f?: readonly number[]): readonly number[] }) {
  const s = c.attrInts('strides', [1, 1])[0];
  const pads = c.attrInts('pads', [0, 0, 0, 0]);
  return { s, pads };
}

defineGrad('Conv', (c, [g]) => {
  if (!g) return [];
  const x = c.x(0);
  const w = c.x(1);
  const { s, pads } = convGeometry(c);
  const [, , kh, kw] = w.shape;
  const [, , ho, wo] = g.shape;
  let gx: Value | undefined;
  if (c.needs(0)) {
    const outPad = [
      x.shape[2] - ((ho - 1) * s - pads[0] - pads[2] + kh),
      x.shape[3] - ((wo - 1) * s - pads[1] - pads[3] + kw),
    ];
    if (outPad.some((p) => p < 0 || p >= s)) {
      throw new Error(
        `Conv '${c.node.name}': no ConvTranspose output_padding reproduces ${formatShape(x.shape)}`,
      );
    }
    gx = c.b.emit1(
      'ConvTranspose',
      [g, w],
      { dtype: x.dtype, shape: x.shape },
      {
        kernel_shape: { ints: [kh, kw] },
        strides: { ints: [s, s] },
        pads: { ints: pads },
        output_padding: { ints: outPad },
      },
      'conv_grad_x',
    );
  }
  let gw: Value | undefined;
  if (c.needs(1)) {
    const [n, cout] = g.shape;
    const cols = im2col(c.b, x, kh, kw, s, pads, ho, wo);
    const g3 = reshapeRaw(c.b, g, [n, cout, ho * wo]);
    const perSample = matmul(c.b, g3, transpose(c.b, cols, [0, 2, 1]));
    const summed = reduceSum(c.b, perSample, [0], false);
    gw = transpose(c.b, reshape(c.b, summed, [cout, kh, kw, x.shape[1]]), [0, 3, 1, 2], 'conv_grad_w');
  }
  const gb = c.node.inputs.length > 2 && c.needs(2) ? reduceSum(c.b, g, [0, 2, 3], false) : undefined;
  return [gx, gw, gb];
});
