/**
 * The SD1 CLIP ViT-L/14 text encoder (HF `CLIPTextModel`) as an ONNX graph, SD1_SPEC §3.2:
 * token + position embeddings, pre-LN layers with causal self-attention (no padding mask) and
 * QuickGELU MLPs, final LayerNorm. SD1 conditions on `last_hidden_state` (all 77 positions).
 */
import { Builder, type Value } from '../../onnx/index.js';
import type { SD1Config, TextEncoderConfig } from '../config.js';
import { ioDtype, Net } from './layers.js';
import type { GraphDType, Weights } from './weights.js';

export const TEXT_KEY_PREFIX = 'cond_stage_model.transformer.text_model.';
export const TEXT_INPUT = 'input_ids';
export const TEXT_OUTPUT = 'last_hidden_state';

const LN_EPS = 1e-5;

export interface TextEncoderGraphOptions {
  batch: number;
  /** Token positions per sequence (default and maximum: the position table's 77). */
  length?: number;
  dtype?: GraphDType;
  /**
   * CLIP skip: drop this many final layers before the final LayerNorm (ComfyUI CLIPSetLastLayer −1 → 0,
   * −2 → 1; diffusers clip_skip = k → k). Default 0 = SD1's last_hidden_state.
   */
  skipLastLayers?: number;
}

/** The most negative finite value of a dtype (HF's causal mask value). */
function mostNegative(dtype: GraphDType): number {
  if (dtype === 'float16') return -65504;
  if (dtype === 'float64') return -Number.MAX_VALUE;
  return -3.4028234663852886e38;
}

/** input_ids int32 [B, L] → last_hidden_state [B, L, D] (float32; float64 for the float64 variant). */
export function buildTextEncoderGraph(
  config: SD1Config,
  weights: Weights,
  opts: TextEncoderGraphOptions,
): Builder {
  const t = config.text;
  const dtype = opts.dtype ?? 'float32';
  const length = opts.length ?? t.maxPositions;
  const skip = opts.skipLastLayers ?? 0;
  if (length < 1 || length > t.maxPositions)
    throw new Error(`text encoder length must be 1..${t.maxPositions}, got ${length}`);
  if (!Number.isInteger(skip) || skip < 0 || skip >= t.layers)
    throw new Error(`skipLastLayers must be 0..${t.layers - 1}, got ${skip}`);
  const b = new Builder('sd1_text_encoder');
  const ids = b.input(TEXT_INPUT, 'int32', [opts.batch, length]);
  const net = new Net(b, weights, dtype);
  const hidden = textEncoderForward(net, t, ids, skip);
  b.output(b.cast(hidden, ioDtype(dtype)), TEXT_OUTPUT);
  return b;
}

/**
 * The text encoder body on a value already in the graph: input_ids int32 [B, L] → hidden states
 * [B, L, D] in the compute dtype, dropping `skipLastLayers` final layers before the final LayerNorm.
 */
export function textEncoderForward(net: Net, t: TextEncoderConfig, ids: Value, skipLastLayers = 0): Value {
  const { b } = net;
  const skip = skipLastLayers;
  const length = ids.shape[1];
  return b.scope(TEXT_KEY_PREFIX.slice(0, -1), () => {
    let x = net.in('embeddings', () => {
      const tok = net.in('token_embedding', () => b.gather(net.param('weight'), ids, 0));
      let pos = net.in('position_embedding', () => net.param('weight'));
      if (length < t.maxPositions) pos = b.slice(pos, [0], [length], [0]);
      return b.add(tok, pos, 'sum');
    });
    const mask = causalMask(b, length, net.dtype);
    for (let l = 0; l < t.layers - skip; l++) {
      x = net.in(`encoder.layers.${l}`, () => {
        const u = net.layerNorm(x, 'layer_norm1', LN_EPS);
        const o = net.in('self_attn', () => {
          const proj = (name: string, v: Value) => net.linear(v, name);
          return proj(
            'out_proj',
            net.attention(proj('q_proj', u), proj('k_proj', u), proj('v_proj', u), t.numHeads, { mask }),
          );
        });
        const r = b.add(x, o, 'after_attn');
        const n2 = net.layerNorm(r, 'layer_norm2', LN_EPS);
        const m = net.in('mlp', () => net.linear(b.quickGelu(net.linear(n2, 'fc1')), 'fc2'));
        return b.add(r, m, 'out');
      });
    }
    return net.layerNorm(x, 'final_layer_norm', LN_EPS);
  });
}

/** [L, L] additive mask: 0 where key j ≤ query i, the most negative float above the diagonal. */
function causalMask(b: Builder, length: number, dtype: GraphDType): Value {
  const values = new Array<number>(length * length).fill(0);
  const neg = mostNegative(dtype);
  for (let i = 0; i < length; i++) for (let j = i + 1; j < length; j++) values[i * length + j] = neg;
  return b.constant(dtype, [length, length], values);
}
