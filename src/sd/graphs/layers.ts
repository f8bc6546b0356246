/**
 * Thin layer helpers over the engine's Builder. Each helper runs under the module's checkpoint path as
 * the name scope (`b.scope('input_blocks.1.0', …)`), so a weight's value name is its canonical LDM key
 * and intermediate values read like `model.diffusion_model.input_blocks.1.0.in_layers.2.conv`.
 */
import type { AttentionOptions, Builder, Value } from '../../onnx/index.js';
import type { GraphDType, Weights } from './weights.js';

/** Per-weight multiplier applied inside the graph (a mask / ξ graph input), by canonical key. */
export type WeightScale = (key: string) => Value | undefined;

/** Which weights are graph inputs named by their canonical key (fed each run: training) rather than initializers. */
export type WeightIsInput = (key: string) => boolean;

export class Net {
  /** The weights declared as graph inputs so far, by canonical key, in declaration order. */
  readonly weightInputs = new Map<string, Value>();

  constructor(
    readonly b: Builder,
    readonly weights: Weights,
    readonly dtype: GraphDType,
    readonly scaleOf: WeightScale = () => undefined,
    readonly isInput: WeightIsInput = () => false,
  ) {}

  /**
   * The weight `<scope>.<leaf>`, multiplied by its mask input when it has one. A weight selected by
   * `isInput` becomes a graph input named by its key (only its shape is read from `weights`).
   */
  param(leaf: string): Value {
    const key = this.b.scoped(leaf);
    const w = this.weights.get(key);
    if (!w) throw new Error(`graph needs weight '${key}', which the checkpoint does not provide`);
    if (w.dtype !== this.dtype) throw new Error(`weight '${key}' is ${w.dtype}; this graph is ${this.dtype}`);
    const v = this.isInput(key)
      ? this.weightInput(key, w.shape)
      : this.b.param(leaf, w.data ?? w.file!, w.shape, w.dtype);
    const scale = this.scaleOf(key);
    return scale ? this.b.mul(v, scale, `${leaf}.masked`) : v;
  }

  private weightInput(key: string, shape: readonly number[]): Value {
    let v = this.weightInputs.get(key);
    if (!v) {
      v = this.b.input(key, this.dtype, shape);
      this.weightInputs.set(key, v);
    }
    return v;
  }

  has(leaf: string): boolean {
    return this.weights.has(this.b.scoped(leaf));
  }

  in<T>(module: string, fn: () => T): T {
    return this.b.scope(module, fn);
  }

  /** Conv with weight/bias `<module>.weight/.bias`; default padding k//2 on every side. */
  conv(
    x: Value,
    module: string,
    opts: { stride?: number; pads?: readonly [number, number, number, number] } = {},
  ): Value {
    return this.in(module, () => {
      return this.b.conv2d(x, this.param('weight'), this.param('bias'), opts, 'conv');
    });
  }

  /** Linear `<module>.weight` [out, in] (+ `.bias` when `bias`). */
  linear(x: Value, module: string, bias = true): Value {
    return this.in(module, () => this.linearHere(x, bias, 'linear'));
  }

  /**
   * x·Wᵀ (+ b) with the current scope's `weight` [out, in] and `bias`. A weight whose weight folder
   * also stores it transposed (`fileT`) is multiplied as stored: no Transpose of a constant for ORT
   * to fold into a private copy, so a session that maps its weights keeps even these mapped.
   */
  linearHere(x: Value, bias: boolean, hint: string): Value {
    const key = this.b.scoped('weight');
    const w = this.weights.get(key);
    if (!w?.fileT || this.isInput(key))
      return this.b.linear(x, this.param('weight'), bias ? this.param('bias') : undefined, hint);
    const [out, inner] = w.shape;
    let wT = this.b.initializer(`${key}.T`, w.fileT, [inner, out], w.dtype);
    const scale = this.scaleOf(key);
    if (scale) wT = this.b.mul(wT, this.b.transpose(scale, [1, 0]), 'weight.masked');
    const y = this.b.matmul(x, wT, bias ? `${hint}.matmul` : hint);
    return bias ? this.b.add(y, this.param('bias'), hint) : y;
  }

  /**
   * GroupNorm with affine `<module>.weight/.bias`. In float16 graphs the statistics run in float32
   * (LDM's GroupNorm32), which costs two Casts.
   */
  groupNorm(x: Value, module: string, groups: number, eps: number): Value {
    return this.in(module, () => {
      const gamma = this.param('weight');
      const beta = this.param('bias');
      if (this.dtype !== 'float16') return this.b.groupNorm(x, gamma, beta, groups, eps, 'group_norm');
      const y = this.b.groupNorm(
        this.b.cast(x, 'float32'),
        this.b.cast(gamma, 'float32'),
        this.b.cast(beta, 'float32'),
        groups,
        eps,
        'group_norm',
      );
      return this.b.cast(y, 'float16');
    });
  }

  layerNorm(x: Value, module: string, eps = 1e-5): Value {
    return this.in(module, () =>
      this.b.layerNorm(x, this.param('weight'), this.param('bias'), eps, 'layer_norm'),
    );
  }

  /**
   * Multi-head attention (q [B, N, C], k/v [B, M, C]). float16 graphs run the softmax in float32
   * (SD1_SPEC §1.9); the others use the engine's attention op as is (it carries the recompute option).
   */
  attention(q: Value, k: Value, v: Value, heads: number, opts: AttentionOptions = {}): Value {
    const { b } = this;
    if (this.dtype !== 'float16') return b.attention(q, k, v, heads, opts);
    const ch = q.shape[2];
    const d = ch / heads;
    const qh = b.transpose(b.reshape(q, [0, 0, heads, d]), [0, 2, 1, 3], 'q_heads');
    const kt = b.transpose(b.reshape(k, [0, 0, heads, d]), [0, 2, 3, 1], 'k_heads_t');
    const vh = b.transpose(b.reshape(v, [0, 0, heads, d]), [0, 2, 1, 3], 'v_heads');
    let scores = b.mul(
      b.cast(b.matmul(qh, kt, 'scores_raw'), 'float32'),
      opts.scale ?? 1 / Math.sqrt(d),
      'scores',
    );
    if (opts.mask) scores = b.add(scores, b.cast(opts.mask, 'float32'), 'scores_masked');
    const probs = b.cast(b.softmax(scores, -1, 'probs'), 'float16');
    const o = b.matmul(probs, vh, 'attn_heads');
    return b.reshape(b.transpose(o, [0, 2, 1, 3]), [0, 0, ch], 'attn');
  }

  silu(x: Value): Value {
    return this.b.silu(x);
  }

  /** [B, C, H, W] → [B, H·W, C] (token n = y·W + x). */
  toTokens(x: Value): Value {
    const c = x.shape[1];
    return this.b.reshape(this.b.transpose(x, [0, 2, 3, 1]), [0, -1, c], 'tokens');
  }

  /** [B, H·W, C] → [B, C, H, W] with the run-time shape of `like` (a map of that shape). */
  fromTokens(t: Value, like: Value): Value {
    return this.b.reshapeLike(this.b.transpose(t, [0, 2, 1]), like, 'map');
  }
}

/** Graph-dtype float for inputs: float16 graphs take float32 inputs and cast inside (uniform API). */
export function ioDtype(dtype: GraphDType): 'float32' | 'float64' {
  return dtype === 'float64' ? 'float64' : 'float32';
}

/** Casts a float32/float64 graph input to the compute dtype (a no-op unless the graph is float16). */
export function toCompute(net: Net, x: Value): Value {
  return x.dtype === net.dtype ? x : net.b.cast(x, net.dtype);
}
