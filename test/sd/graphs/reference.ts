/**
 * An independent plain-TypeScript SD1 forward pass (float64 arithmetic, straightforward loops), written
 * from SD1_SPEC §1–3 without sharing code with the graph builders. Tests run it on the tiny model's weights
 * and compare it with the ONNX graphs.
 *
 * Activations are one batch item at a time: a feature map is `{ c, h, w, d }` with `d[(ch * h + y) * w + x]`,
 * a token sequence is `{ n, c, d }` with `d[i * c + j]`.
 */

export interface RefTensor {
  data: ArrayLike<number>;
  shape: number[];
}
export type RefWeights = (key: string) => RefTensor;

export interface Map2d {
  c: number;
  h: number;
  w: number;
  d: Float64Array;
}
export interface Tokens {
  n: number;
  c: number;
  d: Float64Array;
}

export function conv2d(
  x: Map2d,
  weight: RefTensor,
  bias: RefTensor | null,
  stride = 1,
  pads: [top: number, left: number, bottom: number, right: number] = [1, 1, 1, 1],
): Map2d {
  const [co, ci, kh, kw] = weight.shape;
  if (ci !== x.c) throw new Error(`conv2d: weight expects ${ci} channels, got ${x.c}`);
  const ho = Math.floor((x.h + pads[0] + pads[2] - kh) / stride) + 1;
  const wo = Math.floor((x.w + pads[1] + pads[3] - kw) / stride) + 1;
  const out = new Float64Array(co * ho * wo);
  const wd = weight.data;
  for (let o = 0; o < co; o++) {
    const b = bias ? bias.data[o] : 0;
    for (let y = 0; y < ho; y++) {
      for (let xx = 0; xx < wo; xx++) {
        let s = b;
        for (let i = 0; i < ci; i++) {
          for (let ky = 0; ky < kh; ky++) {
            const iy = y * stride + ky - pads[0];
            if (iy < 0 || iy >= x.h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = xx * stride + kx - pads[1];
              if (ix < 0 || ix >= x.w) continue;
              s += wd[((o * ci + i) * kh + ky) * kw + kx] * x.d[(i * x.h + iy) * x.w + ix];
            }
          }
        }
        out[(o * ho + y) * wo + xx] = s;
      }
    }
  }
  return { c: co, h: ho, w: wo, d: out };
}

export function groupNorm(x: Map2d, groups: number, eps: number, gamma: RefTensor, beta: RefTensor): Map2d {
  const per = x.c / groups;
  const hw = x.h * x.w;
  const out = new Float64Array(x.d.length);
  for (let g = 0; g < groups; g++) {
    const start = g * per * hw;
    const count = per * hw;
    let mean = 0;
    for (let i = 0; i < count; i++) mean += x.d[start + i];
    mean /= count;
    let variance = 0;
    for (let i = 0; i < count; i++) variance += (x.d[start + i] - mean) ** 2;
    variance /= count;
    const rstd = 1 / Math.sqrt(variance + eps);
    for (let ch = g * per; ch < (g + 1) * per; ch++) {
      for (let p = 0; p < hw; p++) {
        const idx = ch * hw + p;
        out[idx] = (x.d[idx] - mean) * rstd * gamma.data[ch] + beta.data[ch];
      }
    }
  }
  return { ...x, d: out };
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

export function silu<T extends { d: Float64Array }>(x: T): T {
  return { ...x, d: x.d.map((v) => v * sigmoid(v)) };
}

function add<T extends { d: Float64Array }>(a: T, b: { d: Float64Array }): T {
  return { ...a, d: a.d.map((v, i) => v + b.d[i]) };
}

/** y = x·Wᵀ + b over the last axis. */
export function linear(x: Tokens, weight: RefTensor, bias: RefTensor | null): Tokens {
  const [out, inp] = weight.shape;
  if (inp !== x.c) throw new Error(`linear: weight expects ${inp}, got ${x.c}`);
  const d = new Float64Array(x.n * out);
  for (let i = 0; i < x.n; i++) {
    for (let o = 0; o < out; o++) {
      let s = bias ? bias.data[o] : 0;
      for (let j = 0; j < inp; j++) s += x.d[i * inp + j] * weight.data[o * inp + j];
      d[i * out + o] = s;
    }
  }
  return { n: x.n, c: out, d };
}

export function layerNorm(x: Tokens, eps: number, gamma: RefTensor, beta: RefTensor): Tokens {
  const d = new Float64Array(x.d.length);
  for (let i = 0; i < x.n; i++) {
    let mean = 0;
    for (let j = 0; j < x.c; j++) mean += x.d[i * x.c + j];
    mean /= x.c;
    let variance = 0;
    for (let j = 0; j < x.c; j++) variance += (x.d[i * x.c + j] - mean) ** 2;
    variance /= x.c;
    const rstd = 1 / Math.sqrt(variance + eps);
    for (let j = 0; j < x.c; j++)
      d[i * x.c + j] = (x.d[i * x.c + j] - mean) * rstd * gamma.data[j] + beta.data[j];
  }
  return { n: x.n, c: x.c, d };
}

/** Multi-head softmax attention; heads split channels contiguously (channel = head·d + j). */
export function attention(q: Tokens, k: Tokens, v: Tokens, heads: number, causal = false): Tokens {
  const dh = q.c / heads;
  const scale = 1 / Math.sqrt(dh);
  const out = new Float64Array(q.n * q.c);
  const scores = new Float64Array(k.n);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < q.n; i++) {
      let max = Number.NEGATIVE_INFINITY;
      const last = causal ? i : k.n - 1;
      for (let j = 0; j <= last; j++) {
        let s = 0;
        for (let t = 0; t < dh; t++) s += q.d[i * q.c + h * dh + t] * k.d[j * k.c + h * dh + t];
        scores[j] = s * scale;
        if (scores[j] > max) max = scores[j];
      }
      let sum = 0;
      for (let j = 0; j <= last; j++) {
        scores[j] = Math.exp(scores[j] - max);
        sum += scores[j];
      }
      for (let t = 0; t < dh; t++) {
        let s = 0;
        for (let j = 0; j <= last; j++) s += scores[j] * v.d[j * v.c + h * dh + t];
        out[i * q.c + h * dh + t] = s / sum;
      }
    }
  }
  return { n: q.n, c: q.c, d: out };
}

function mapToTokens(x: Map2d): Tokens {
  const n = x.h * x.w;
  const d = new Float64Array(n * x.c);
  for (let ch = 0; ch < x.c; ch++) for (let p = 0; p < n; p++) d[p * x.c + ch] = x.d[ch * n + p];
  return { n, c: x.c, d };
}

function tokensToMap(t: Tokens, h: number, w: number): Map2d {
  const d = new Float64Array(t.n * t.c);
  for (let ch = 0; ch < t.c; ch++) for (let p = 0; p < t.n; p++) d[ch * t.n + p] = t.d[p * t.c + ch];
  return { c: t.c, h, w, d };
}

function upsampleNearest2x(x: Map2d): Map2d {
  const h = x.h * 2;
  const w = x.w * 2;
  const d = new Float64Array(x.c * h * w);
  for (let ch = 0; ch < x.c; ch++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) d[(ch * h + y) * w + xx] = x.d[(ch * x.h + (y >> 1)) * x.w + (xx >> 1)];
  return { c: x.c, h, w, d };
}

/**
 * PyTorch's legacy 'nearest' to a given size (LDM/ComfyUI upsample to the skip's shape): output row y
 * reads row min(⌊y · (in/out)⌋, in − 1), the ratio and the product taken in float32 as ATen does.
 */
function upsampleNearestTo(x: Map2d, h: number, w: number): Map2d {
  const source = (o: number, inSize: number, outSize: number) => {
    const ratio = Math.fround(inSize / outSize);
    return Math.min(Math.floor(Math.fround(o * ratio)), inSize - 1);
  };
  const d = new Float64Array(x.c * h * w);
  for (let ch = 0; ch < x.c; ch++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        d[(ch * h + y) * w + xx] = x.d[(ch * x.h + source(y, x.h, h)) * x.w + source(xx, x.w, w)];
  return { c: x.c, h, w, d };
}

function concatChannels(a: Map2d, b: Map2d): Map2d {
  if (a.h !== b.h || a.w !== b.w) throw new Error(`concat of ${a.h}×${a.w} and ${b.h}×${b.w} maps`);
  const d = new Float64Array(a.d.length + b.d.length);
  d.set(a.d, 0);
  d.set(b.d, a.d.length);
  return { c: a.c + b.c, h: a.h, w: a.w, d };
}

/** The K/V weight multiplier a test applies: key → per-entry factor (absent = 1). */
export type KvScale = (key: string) => ArrayLike<number> | undefined;

function scaled(weight: RefTensor, factor: ArrayLike<number> | undefined): RefTensor {
  if (!factor) return weight;
  return { shape: weight.shape, data: Array.from(weight.data, (v, i) => v * factor[i]) };
}

// ---------------------------------------------------------------------------------------------- UNet

export interface RefUnetSpec {
  prefix: string; // 'model.diffusion_model.'
  channelMult: number[];
  numResBlocks: number;
  attentionLevels: boolean[];
  transformerDepth: number;
  numHeads: number;
  groups: number;
}

export function timestepEmbedding(t: number, dim: number): Float64Array {
  const half = dim / 2;
  const out = new Float64Array(dim);
  for (let i = 0; i < half; i++) {
    const freq = Math.exp((-Math.log(10000) * i) / half);
    out[i] = Math.cos(t * freq);
    out[half + i] = Math.sin(t * freq);
  }
  return out;
}

export function unetResBlock(W: RefWeights, p: string, x: Map2d, embSilu: Tokens, groups: number): Map2d {
  let h = silu(groupNorm(x, groups, 1e-5, W(`${p}in_layers.0.weight`), W(`${p}in_layers.0.bias`)));
  h = conv2d(h, W(`${p}in_layers.2.weight`), W(`${p}in_layers.2.bias`));
  const e = linear(embSilu, W(`${p}emb_layers.1.weight`), W(`${p}emb_layers.1.bias`));
  const hw = h.h * h.w;
  h = { ...h, d: h.d.map((v, i) => v + e.d[Math.floor(i / hw)]) };
  h = silu(groupNorm(h, groups, 1e-5, W(`${p}out_layers.0.weight`), W(`${p}out_layers.0.bias`)));
  h = conv2d(h, W(`${p}out_layers.3.weight`), W(`${p}out_layers.3.bias`));
  let skip = x;
  if (x.c !== h.c)
    skip = conv2d(x, W(`${p}skip_connection.weight`), W(`${p}skip_connection.bias`), 1, [0, 0, 0, 0]);
  return add(h, skip);
}

export function unetTransformer(
  W: RefWeights,
  p: string,
  x: Map2d,
  context: Tokens,
  spec: Pick<RefUnetSpec, 'groups' | 'numHeads' | 'transformerDepth'>,
  kv: KvScale = () => undefined,
): Map2d {
  let h = groupNorm(x, spec.groups, 1e-6, W(`${p}norm.weight`), W(`${p}norm.bias`));
  h = conv2d(h, W(`${p}proj_in.weight`), W(`${p}proj_in.bias`), 1, [0, 0, 0, 0]);
  let t = mapToTokens(h);
  for (let depth = 0; depth < spec.transformerDepth; depth++) {
    const b = `${p}transformer_blocks.${depth}.`;
    const attn = (a: string, u: Tokens, ctx: Tokens) => {
      const k = `${b}${a}.to_k.weight`;
      const v = `${b}${a}.to_v.weight`;
      const o = attention(
        linear(u, W(`${b}${a}.to_q.weight`), null),
        linear(ctx, scaled(W(k), kv(k)), null),
        linear(ctx, scaled(W(v), kv(v)), null),
        spec.numHeads,
      );
      return linear(o, W(`${b}${a}.to_out.0.weight`), W(`${b}${a}.to_out.0.bias`));
    };
    const n1 = layerNorm(t, 1e-5, W(`${b}norm1.weight`), W(`${b}norm1.bias`));
    t = add(t, attn('attn1', n1, n1));
    t = add(t, attn('attn2', layerNorm(t, 1e-5, W(`${b}norm2.weight`), W(`${b}norm2.bias`)), context));
    const n3 = layerNorm(t, 1e-5, W(`${b}norm3.weight`), W(`${b}norm3.bias`));
    const proj = linear(n3, W(`${b}ff.net.0.proj.weight`), W(`${b}ff.net.0.proj.bias`));
    const inner = proj.c / 2;
    const gated = new Float64Array(t.n * inner);
    for (let i = 0; i < t.n; i++) {
      for (let j = 0; j < inner; j++) {
        const a = proj.d[i * proj.c + j];
        const g = proj.d[i * proj.c + inner + j];
        gated[i * inner + j] = a * 0.5 * g * (1 + erf(g / Math.SQRT2));
      }
    }
    t = add(t, linear({ n: t.n, c: inner, d: gated }, W(`${b}ff.net.2.weight`), W(`${b}ff.net.2.bias`)));
  }
  h = tokensToMap(t, x.h, x.w);
  h = conv2d(h, W(`${p}proj_out.weight`), W(`${p}proj_out.bias`), 1, [0, 0, 0, 0]);
  return add(h, x);
}

/** One batch item of the SD1 UNet: ε̂ for latent x at timestep t with context [L, Dc]. */
export function unetForward(
  W: RefWeights,
  spec: RefUnetSpec,
  x: Map2d,
  t: number,
  context: Tokens,
  kv: KvScale = () => undefined,
): Map2d {
  const P = spec.prefix;
  const mc = W(`${P}input_blocks.0.0.weight`).shape[0];
  let emb: Tokens = { n: 1, c: mc, d: timestepEmbedding(t, mc) };
  emb = linear(
    silu(linear(emb, W(`${P}time_embed.0.weight`), W(`${P}time_embed.0.bias`))),
    W(`${P}time_embed.2.weight`),
    W(`${P}time_embed.2.bias`),
  );
  const embSilu = silu(emb);
  let h = conv2d(x, W(`${P}input_blocks.0.0.weight`), W(`${P}input_blocks.0.0.bias`));
  const skips: Map2d[] = [h];
  let index = 1;
  const levels = spec.channelMult.length;
  for (let level = 0; level < levels; level++) {
    for (let r = 0; r < spec.numResBlocks; r++) {
      h = unetResBlock(W, `${P}input_blocks.${index}.0.`, h, embSilu, spec.groups);
      if (spec.attentionLevels[level])
        h = unetTransformer(W, `${P}input_blocks.${index}.1.`, h, context, spec, kv);
      skips.push(h);
      index++;
    }
    if (level !== levels - 1) {
      h = conv2d(h, W(`${P}input_blocks.${index}.0.op.weight`), W(`${P}input_blocks.${index}.0.op.bias`), 2);
      skips.push(h);
      index++;
    }
  }
  h = unetResBlock(W, `${P}middle_block.0.`, h, embSilu, spec.groups);
  h = unetTransformer(W, `${P}middle_block.1.`, h, context, spec, kv);
  h = unetResBlock(W, `${P}middle_block.2.`, h, embSilu, spec.groups);
  let k = 0;
  for (let level = levels - 1; level >= 0; level--) {
    for (let r = 0; r <= spec.numResBlocks; r++) {
      h = concatChannels(h, skips.pop()!);
      h = unetResBlock(W, `${P}output_blocks.${k}.0.`, h, embSilu, spec.groups);
      let sub = 1;
      if (spec.attentionLevels[level]) {
        h = unetTransformer(W, `${P}output_blocks.${k}.1.`, h, context, spec, kv);
        sub = 2;
      }
      if (level !== 0 && r === spec.numResBlocks) {
        const up = `${P}output_blocks.${k}.${sub}.conv.`;
        const next = skips[skips.length - 1];
        h = conv2d(upsampleNearestTo(h, next.h, next.w), W(`${up}weight`), W(`${up}bias`));
      }
      k++;
    }
  }
  h = silu(groupNorm(h, spec.groups, 1e-5, W(`${P}out.0.weight`), W(`${P}out.0.bias`)));
  return conv2d(h, W(`${P}out.2.weight`), W(`${P}out.2.bias`));
}

// ---------------------------------------------------------------------------------------------- VAE

export interface RefVaeSpec {
  prefix: string; // 'first_stage_model.'
  channelMult: number[];
  numResBlocks: number;
  groups: number;
}

export function vaeResBlock(W: RefWeights, p: string, x: Map2d, groups: number): Map2d {
  let h = silu(groupNorm(x, groups, 1e-6, W(`${p}norm1.weight`), W(`${p}norm1.bias`)));
  h = conv2d(h, W(`${p}conv1.weight`), W(`${p}conv1.bias`));
  h = silu(groupNorm(h, groups, 1e-6, W(`${p}norm2.weight`), W(`${p}norm2.bias`)));
  h = conv2d(h, W(`${p}conv2.weight`), W(`${p}conv2.bias`));
  const skip =
    x.c === h.c ? x : conv2d(x, W(`${p}nin_shortcut.weight`), W(`${p}nin_shortcut.bias`), 1, [0, 0, 0, 0]);
  return add(h, skip);
}

function as2d(t: RefTensor): RefTensor {
  return { data: t.data, shape: t.shape.slice(0, 2) };
}

export function vaeAttention(W: RefWeights, p: string, x: Map2d, groups: number): Map2d {
  const u = mapToTokens(groupNorm(x, groups, 1e-6, W(`${p}norm.weight`), W(`${p}norm.bias`)));
  const q = linear(u, as2d(W(`${p}q.weight`)), W(`${p}q.bias`));
  const k = linear(u, as2d(W(`${p}k.weight`)), W(`${p}k.bias`));
  const v = linear(u, as2d(W(`${p}v.weight`)), W(`${p}v.bias`));
  const o = linear(attention(q, k, v, 1), as2d(W(`${p}proj_out.weight`)), W(`${p}proj_out.bias`));
  return add(tokensToMap(o, x.h, x.w), x);
}

/** Image [3, H, W] in −1..1 → moments [2·latent, H/8, W/8] (mean ‖ raw logvar). */
export function vaeEncode(W: RefWeights, spec: RefVaeSpec, x: Map2d): Map2d {
  const P = `${spec.prefix}encoder.`;
  let h = conv2d(x, W(`${P}conv_in.weight`), W(`${P}conv_in.bias`));
  const levels = spec.channelMult.length;
  for (let level = 0; level < levels; level++) {
    for (let r = 0; r < spec.numResBlocks; r++)
      h = vaeResBlock(W, `${P}down.${level}.block.${r}.`, h, spec.groups);
    if (level !== levels - 1)
      h = conv2d(
        h,
        W(`${P}down.${level}.downsample.conv.weight`),
        W(`${P}down.${level}.downsample.conv.bias`),
        2,
        [0, 0, 1, 1],
      );
  }
  h = vaeResBlock(W, `${P}mid.block_1.`, h, spec.groups);
  h = vaeAttention(W, `${P}mid.attn_1.`, h, spec.groups);
  h = vaeResBlock(W, `${P}mid.block_2.`, h, spec.groups);
  h = silu(groupNorm(h, spec.groups, 1e-6, W(`${P}norm_out.weight`), W(`${P}norm_out.bias`)));
  h = conv2d(h, W(`${P}conv_out.weight`), W(`${P}conv_out.bias`));
  return conv2d(h, W(`${spec.prefix}quant_conv.weight`), W(`${spec.prefix}quant_conv.bias`), 1, [0, 0, 0, 0]);
}

/** Latent [4, h, w] (already divided by the scaling factor) → image [3, 8h, 8w]. */
export function vaeDecode(W: RefWeights, spec: RefVaeSpec, z: Map2d): Map2d {
  const P = `${spec.prefix}decoder.`;
  let h = conv2d(
    z,
    W(`${spec.prefix}post_quant_conv.weight`),
    W(`${spec.prefix}post_quant_conv.bias`),
    1,
    [0, 0, 0, 0],
  );
  h = conv2d(h, W(`${P}conv_in.weight`), W(`${P}conv_in.bias`));
  h = vaeResBlock(W, `${P}mid.block_1.`, h, spec.groups);
  h = vaeAttention(W, `${P}mid.attn_1.`, h, spec.groups);
  h = vaeResBlock(W, `${P}mid.block_2.`, h, spec.groups);
  for (let level = spec.channelMult.length - 1; level >= 0; level--) {
    for (let r = 0; r <= spec.numResBlocks; r++)
      h = vaeResBlock(W, `${P}up.${level}.block.${r}.`, h, spec.groups);
    if (level !== 0)
      h = conv2d(
        upsampleNearest2x(h),
        W(`${P}up.${level}.upsample.conv.weight`),
        W(`${P}up.${level}.upsample.conv.bias`),
      );
  }
  h = silu(groupNorm(h, spec.groups, 1e-6, W(`${P}norm_out.weight`), W(`${P}norm_out.bias`)));
  return conv2d(h, W(`${P}conv_out.weight`), W(`${P}conv_out.bias`));
}

// ---------------------------------------------------------------------------------------------- CLIP

/** Token ids [L] → last_hidden_state [L, D] (causal mask, quick_gelu, final LayerNorm). */
export function clipForward(
  W: RefWeights,
  prefix: string,
  layers: number,
  heads: number,
  ids: number[],
): Tokens {
  const P = `${prefix}text_model.`;
  const tok = W(`${P}embeddings.token_embedding.weight`);
  const pos = W(`${P}embeddings.position_embedding.weight`);
  const D = tok.shape[1];
  const d = new Float64Array(ids.length * D);
  for (let i = 0; i < ids.length; i++)
    for (let j = 0; j < D; j++) d[i * D + j] = tok.data[ids[i] * D + j] + pos.data[i * D + j];
  let x: Tokens = { n: ids.length, c: D, d };
  for (let l = 0; l < layers; l++) {
    const L = `${P}encoder.layers.${l}.`;
    const u = layerNorm(x, 1e-5, W(`${L}layer_norm1.weight`), W(`${L}layer_norm1.bias`));
    const proj = (name: string, v: Tokens) => linear(v, W(`${L}${name}.weight`), W(`${L}${name}.bias`));
    const o = attention(
      proj('self_attn.q_proj', u),
      proj('self_attn.k_proj', u),
      proj('self_attn.v_proj', u),
      heads,
      true,
    );
    x = add(x, proj('self_attn.out_proj', o));
    const m = proj('mlp.fc1', layerNorm(x, 1e-5, W(`${L}layer_norm2.weight`), W(`${L}layer_norm2.bias`)));
    x = add(x, proj('mlp.fc2', { ...m, d: m.d.map((v) => v * sigmoid(1.702 * v)) }));
  }
  return layerNorm(x, 1e-5, W(`${P}final_layer_norm.weight`), W(`${P}final_layer_norm.bias`));
}

/** erf to ~1e-16 via its Maclaurin series for small |x| and a continued fraction for the tail. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = ax;
    let term = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  // erfc continued fraction (Lentz), accurate for |x| ≥ 2.5.
  const tiny = 1e-300;
  let f = ax;
  let C = ax;
  let D = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    D = ax + an * D;
    D = D === 0 ? tiny : 1 / D;
    C = ax + an / C;
    if (C === 0) C = tiny;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  const r = 1 - erfc;
  return x < 0 ? -r : r;
}
