/**
 * The SD1 UNet (LDM `UNetModel` / diffusers `UNet2DConditionModel`) as an ONNX graph, SD1_SPEC §1:
 * ResBlocks (GroupNorm eps 1e-5), Transformer2D blocks (GroupNorm eps 1e-6, 1×1 proj_in/out, self- and
 * cross-attention with scale 1/√(C/heads), GEGLU), symmetric stride-2 downsampling (⌈n/2⌉), nearest
 * upsampling to the size of the skip it is concatenated with (×2, or 2n−1 after an odd size, as
 * LDM/ComfyUI's `Upsample(x, output_shape)`), `[h, skip]` concatenation, cos-first timestep embedding.
 *
 * K/V switching: every K/V weight in `kvMode`'s scope is multiplied by a graph input of its own shape
 * (`xi:<canonical key>`), so one session serves every concept mask (see README.md for the cost).
 */
import { Builder, type Value } from '../../onnx/index.js';
import type { SD1Config, UNetConfig } from '../config.js';
import { type KvMode, kvInputName, kvWeights, UNET_KEY_PREFIX } from './kv.js';
import { ioDtype, Net, toCompute, type WeightScale } from './layers.js';
import type { GraphDType, Weights } from './weights.js';

export const UNET_INPUTS = {
  sample: 'sample',
  timestep: 'timestep',
  context: 'encoder_hidden_states',
} as const;
export const UNET_OUTPUT = 'out_sample';

export interface UnetShape {
  batch: number;
  /** Latent height and width (image size / 8): any positive integers, as in ComfyUI. */
  height: number;
  width: number;
  /** Context tokens (77 per prompt window; 77·k for long prompts). Default 77. */
  contextLength?: number;
}

export interface UnetGraphOptions extends UnetShape {
  dtype?: GraphDType;
  /** Which K/V weights get a mask input (default 'none'). */
  kvMode?: KvMode;
  /** Split attention query axes so no probability map exceeds this many bytes (default: no limit). */
  attentionMapBudget?: number;
  /**
   * One model for every batch, latent size and context length: batch, height, width and tokens are
   * symbolic (dim_param) in the written model; the sizes above are only the ones it is built at.
   */
  sizeAgnostic?: boolean;
}

/** Which attention cores are recompute segments (their maps re-derived in the backward, not kept). */
export type AttentionRecompute = 'none' | 'self' | 'all';

export interface UnetForwardOptions {
  /**
   * Training graphs: 'self' (default there) recomputes the N×N self-attention maps, which dominate
   * memory at 64² latents; cross-attention maps are N×77 and cheap to keep. Any policy but 'none'
   * also recomputes the GEGLU's GELU from its gate.
   */
  recomputeAttention?: AttentionRecompute;
  /**
   * Largest attention probability map [B, heads, n, M] (bytes) one attention core may hold; larger
   * ones split the query axis into chunks (exact: query rows are independent). Default: no limit.
   */
  attentionMapBudget?: number;
  /**
   * Upsample to the skip's run-time size (Shape-derived Gathers) instead of build-time sizes, so the
   * graph runs at any latent size (one model for every size; no attention chunking then).
   */
  sizeAgnostic?: boolean;
}

/** Query chunks for an [B, heads, N, M] map: the fewest that divide N and fit the budget. */
export function attentionChunks(
  batch: number,
  heads: number,
  n: number,
  m: number,
  bytesPerElement: number,
  budget: number,
): number {
  const full = batch * heads * n * m * bytesPerElement;
  if (!(budget > 0) || full <= budget) return 1;
  for (let k = Math.ceil(full / budget); k < n; k++) if (n % k === 0) return k;
  return n;
}

const RES_EPS = 1e-5;
const TRANSFORMER_EPS = 1e-6;
const LAYER_NORM_EPS = 1e-5;

export function checkLatentSize(height: number, width: number): void {
  for (const [name, v] of [
    ['height', height],
    ['width', width],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0)
      throw new Error(`UNet latent ${name} must be a positive integer (image size / 8), got ${v}`);
  }
}

/**
 * Sinusoidal timestep embedding, cosine half first (flip_sin_to_cos, freq_shift 0): frequencies
 * exp(−ln(10⁴)·i/half) rounded to float32 as torch computes them. t [B] → [B, dim].
 */
export function timestepEmbedding(b: Builder, t: Value, dim: number): Value {
  const half = dim / 2;
  const freqs = new Array<number>(half);
  for (let i = 0; i < half; i++)
    freqs[i] = Math.fround(Math.exp(Math.fround(Math.fround(-Math.log(10000) * i) / half)));
  const arg = b.mul(b.reshape(t, [-1, 1]), b.constant(t.dtype, [1, half], freqs), 'timestep_args');
  return b.concat([b.cos(arg), b.sin(arg)], 1, 'timestep_embedding');
}

/**
 * The UNet body on values already in the graph: x [B, Cin, h, w] and context [B, L, Dc] in the compute
 * dtype, t [B] in float32/float64. Returns ε̂ [B, Cout, h, w] in the compute dtype.
 */
export function unetForward(
  net: Net,
  u: UNetConfig,
  x: Value,
  t: Value,
  context: Value,
  opts: UnetForwardOptions = {},
): Value {
  const { b } = net;
  const groups = u.normGroups;
  const recompute = opts.recomputeAttention ?? 'none';
  return b.scope(UNET_KEY_PREFIX.slice(0, -1), () => {
    const emb = net.in('time_embed', () => {
      const sinusoid = toCompute(net, timestepEmbedding(b, t, u.modelChannels));
      return net.linear(net.silu(net.linear(sinusoid, '0')), '2');
    });
    const embSilu = net.silu(emb);

    const resBlock = (module: string, h: Value, cout: number) =>
      net.in(module, () => {
        let y = net.conv(net.silu(net.groupNorm(h, 'in_layers.0', groups, RES_EPS)), 'in_layers.2');
        const e = net.linear(embSilu, 'emb_layers.1');
        y = b.add(y, b.reshape(e, [-1, cout, 1, 1]), 'plus_emb');
        y = net.conv(net.silu(net.groupNorm(y, 'out_layers.0', groups, RES_EPS)), 'out_layers.3');
        const skip = h.shape[1] === cout ? h : net.conv(h, 'skip_connection');
        return b.add(skip, y, 'out');
      });

    const transformer = (module: string, h: Value) =>
      net.in(module, () => {
        const c = h.shape[1];
        const projected = net.conv(net.groupNorm(h, 'norm', groups, TRANSFORMER_EPS), 'proj_in');
        let tok = net.toTokens(projected);
        for (let d = 0; d < u.transformerDepth; d++) {
          tok = net.in(`transformer_blocks.${d}`, () => {
            const attn = (name: string, q: Value, ctx: Value) =>
              net.in(name, () => {
                const qs = net.linear(q, 'to_q', false);
                const ks = net.linear(ctx, 'to_k', false);
                const vs = net.linear(ctx, 'to_v', false);
                const options = {
                  recompute: recompute === 'all' || (recompute === 'self' && name === 'attn1'),
                };
                const [batch, n] = qs.shape;
                const bytes = qs.dtype === 'float16' ? 2 : qs.dtype === 'float64' ? 8 : 4;
                const chunks = attentionChunks(
                  batch,
                  u.numHeads,
                  n,
                  ks.shape[1],
                  bytes,
                  opts.attentionMapBudget ?? 0,
                );
                const o =
                  chunks === 1
                    ? net.attention(qs, ks, vs, u.numHeads, options)
                    : b.concat(
                        b
                          .split(qs, new Array(chunks).fill(n / chunks), 1, 'q_chunks')
                          .map((qc) => net.attention(qc, ks, vs, u.numHeads, options)),
                        1,
                        'attn_chunks',
                      );
                return net.linear(o, 'to_out.0');
              });
            const n1 = net.layerNorm(tok, 'norm1', LAYER_NORM_EPS);
            let s = b.add(tok, attn('attn1', n1, n1), 'after_attn1');
            s = b.add(s, attn('attn2', net.layerNorm(s, 'norm2', LAYER_NORM_EPS), context), 'after_attn2');
            const n3 = net.layerNorm(s, 'norm3', LAYER_NORM_EPS);
            const ff = net.in('ff.net', () => {
              const gated = net.in('0.proj', () => {
                // GEGLU; training re-derives GELU's intermediates (4 tensors of [B, N, 4C]) from the gate.
                const p = net.linearHere(n3, true, 'proj');
                const inner = p.shape[2] / 2;
                const [value, gate] = b.split(p, [inner, inner], -1, 'halves');
                const gelu = () => b.gelu(gate);
                return b.mul(value, recompute === 'none' ? gelu() : b.recompute(gelu), 'geglu');
              });
              return net.linear(gated, '2');
            });
            return b.add(s, ff, 'after_ff');
          });
        }
        const y = net.conv(net.fromTokens(tok, projected), 'proj_out');
        if (y.shape[1] !== c) throw new Error(`${module}: proj_out changes width`);
        return b.add(y, h, 'out');
      });

    const levels = u.channelMult.length;
    let h = net.conv(x, 'input_blocks.0.0');
    const skips: Value[] = [h];
    let index = 1;
    for (let level = 0; level < levels; level++) {
      const width = u.modelChannels * u.channelMult[level];
      for (let r = 0; r < u.numResBlocks; r++) {
        h = resBlock(`input_blocks.${index}.0`, h, width);
        if (u.attentionLevels[level]) h = transformer(`input_blocks.${index}.1`, h);
        skips.push(h);
        index++;
      }
      if (level !== levels - 1) {
        h = net.conv(h, `input_blocks.${index}.0.op`, { stride: 2, pads: [1, 1, 1, 1] });
        skips.push(h);
        index++;
      }
    }
    h = resBlock('middle_block.0', h, h.shape[1]);
    h = transformer('middle_block.1', h);
    h = resBlock('middle_block.2', h, h.shape[1]);

    let k = 0;
    for (let level = levels - 1; level >= 0; level--) {
      const width = u.modelChannels * u.channelMult[level];
      for (let r = 0; r <= u.numResBlocks; r++) {
        h = b.scope(`output_blocks.${k}`, () => b.concat([h, skips.pop()!], 1, 'cat_skip'));
        h = resBlock(`output_blocks.${k}.0`, h, width);
        let sub = 1;
        if (u.attentionLevels[level]) {
          h = transformer(`output_blocks.${k}.1`, h);
          sub = 2;
        }
        if (level !== 0 && r === u.numResBlocks) {
          const module = `output_blocks.${k}.${sub}`;
          const skip = skips[skips.length - 1];
          const [, , skipH, skipW] = skip.shape;
          h = net.conv(
            b.scope(module, () =>
              opts.sizeAgnostic ? b.resizeNearestLike(h, skip) : b.resizeNearest(h, [skipH, skipW]),
            ),
            `${module}.conv`,
          );
        }
        k++;
      }
    }
    return net.conv(net.silu(net.groupNorm(h, 'out.0', groups, RES_EPS)), 'out.2');
  });
}

/** Declares one mask input per K/V weight in scope; returns the key → input lookup. */
export function declareKvInputs(
  b: Builder,
  u: UNetConfig,
  mode: KvMode,
  dtype: GraphDType,
): { scale: WeightScale; keys: string[] } {
  if (mode === 'none') return { scale: () => undefined, keys: [] };
  const inputs = new Map<string, Value>();
  for (const w of kvWeights(u, mode)) inputs.set(w.key, b.input(kvInputName(w.key), dtype, w.shape));
  return { scale: (key) => inputs.get(key), keys: [...inputs.keys()] };
}

export interface BuiltGraph {
  builder: Builder;
  /** Canonical keys of the K/V weights with a mask / ξ input, in input order. */
  kvKeys: string[];
}

/**
 * sample [B, Cin, h, w], timestep [B] (float, integral values for ComfyUI), encoder_hidden_states
 * [B, L, Dc] → out_sample [B, Cout, h, w]; inputs and outputs are float32 (float64 for the float64
 * variant) whatever the weight dtype. K/V masks `xi:<key>` are in the weight dtype.
 */
export function buildUnetGraph(config: SD1Config, weights: Weights, opts: UnetGraphOptions): BuiltGraph {
  const u = config.unet;
  const dtype = opts.dtype ?? 'float32';
  checkLatentSize(opts.height, opts.width);
  const io = ioDtype(dtype);
  const b = new Builder('sd1_unet');
  const x = b.input(UNET_INPUTS.sample, io, [opts.batch, u.inChannels, opts.height, opts.width]);
  const t = b.input(UNET_INPUTS.timestep, io, [opts.batch]);
  const ctx = b.input(UNET_INPUTS.context, io, [opts.batch, opts.contextLength ?? 77, u.contextDim]);
  const kv = declareKvInputs(b, u, opts.kvMode ?? 'none', dtype);
  const net = new Net(b, weights, dtype, kv.scale);
  if (opts.sizeAgnostic && opts.attentionMapBudget)
    throw new Error('a size-agnostic UNet cannot chunk attention by size (attentionMapBudget)');
  const eps = unetForward(net, u, toCompute(net, x), t, toCompute(net, ctx), {
    attentionMapBudget: opts.attentionMapBudget,
    sizeAgnostic: opts.sizeAgnostic,
  });
  const out = b.output(b.cast(eps, io), UNET_OUTPUT);
  if (opts.sizeAgnostic) {
    b.symbolic(x, ['batch', undefined, 'height', 'width']);
    b.symbolic(t, ['batch']);
    b.symbolic(ctx, ['batch', 'tokens', undefined]);
    b.symbolic(out, ['batch', undefined, 'height', 'width']);
  }
  return { builder: b, kvKeys: kv.keys };
}
