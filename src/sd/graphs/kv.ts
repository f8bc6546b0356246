/**
 * The UNet's attention K/V weights: which transformer blocks exist, which K/V weights a Cones scope
 * covers, and the names of the graph inputs/outputs that carry their masks (ξ) and gradients.
 */
import { UNET_PREFIX } from '../checkpoint/sd1-tensors.js';
import type { UNetConfig } from '../config.js';

export const UNET_KEY_PREFIX = UNET_PREFIX;

export type KvAttention = 'attn1' | 'attn2';
export type KvProjection = 'to_k' | 'to_v';

/**
 * The one pattern of a canonical UNet K/V weight key. Written for ECMA-262 and Python `re` alike (no named
 * groups), so the concept metadata schema uses it as its `pattern`. Groups: 1 transformer module, 2 depth,
 * 3 attention, 4 projection.
 */
export const KV_WEIGHT_KEY_PATTERN =
  '^model\\.diffusion_model\\.((?:input_blocks|output_blocks)\\.[0-9]+\\.1|middle_block\\.1)\\.transformer_blocks\\.([0-9]+)\\.(attn[12])\\.(to_[kv])\\.weight$';
const KV_WEIGHT_KEY = new RegExp(KV_WEIGHT_KEY_PATTERN);

export interface KvWeightName {
  key: string;
  /** LDM module of the SpatialTransformer: `input_blocks.1.1`, `middle_block.1`, `output_blocks.11.1`. */
  module: string;
  /** Index inside the transformer's `transformer_blocks` (SD1: always 0). */
  depth: number;
  attention: KvAttention;
  projection: KvProjection;
}

/** Parses a canonical UNet K/V key; null for any other key. */
export function parseKvWeightKey(key: string): KvWeightName | null {
  const m = KV_WEIGHT_KEY.exec(key);
  if (!m) return null;
  return {
    key,
    module: m[1],
    depth: Number(m[2]),
    attention: m[3] as KvAttention,
    projection: m[4] as KvProjection,
  };
}

/**
 * Which K/V weights are switchable per run:
 * - `cross-attention`: attn2.to_k / attn2.to_v of every transformer block (32 in SD1; Custom Diffusion's set);
 * - `all`: attn1 and attn2 to_k / to_v (64 in SD1; the paper's Fig. 4 layer and the public port).
 */
export type KvScope = 'cross-attention' | 'all';
export const KV_SCOPES: readonly KvScope[] = ['cross-attention', 'all'];

/** `none` builds a UNet with no mask inputs at all (plain sampling, zero per-run cost). */
export type KvMode = 'none' | KvScope;

export interface TransformerBlockInfo {
  /** 0-based position in SD1_SPEC §2.3 order (input blocks, middle, output blocks). */
  index: number;
  /** LDM module path without the UNet prefix, e.g. `input_blocks.1.1`. */
  module: string;
  /** Width C of the block (head size = C / numHeads). */
  channels: number;
  /** Resolution level (index into channel_mult); the middle block sits on the last level. */
  level: number;
}

/** The Transformer2D modules of the UNet in forward order (16 in SD1). */
export function unetTransformerModules(u: UNetConfig): TransformerBlockInfo[] {
  const out: TransformerBlockInfo[] = [];
  const levels = u.channelMult.length;
  let block = 0;
  for (let level = 0; level < levels; level++) {
    for (let j = 0; j < u.numResBlocks; j++) {
      block++;
      if (u.attentionLevels[level])
        out.push({ index: out.length, module: `input_blocks.${block}.1`, channels: width(u, level), level });
    }
    if (level < levels - 1) block++;
  }
  out.push({
    index: out.length,
    module: 'middle_block.1',
    channels: width(u, levels - 1),
    level: levels - 1,
  });
  let k = 0;
  for (let level = levels - 1; level >= 0; level--) {
    for (let j = 0; j <= u.numResBlocks; j++) {
      if (u.attentionLevels[level])
        out.push({ index: out.length, module: `output_blocks.${k}.1`, channels: width(u, level), level });
      k++;
    }
  }
  return out;
}

function width(u: UNetConfig, level: number): number {
  return u.modelChannels * u.channelMult[level];
}

export interface KvWeightInfo {
  /** Canonical LDM key, e.g. `model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`. */
  key: string;
  attn: KvAttention;
  proj: KvProjection;
  /** [out, in] = [C, C] for attn1, [C, contextDim] for attn2. */
  shape: [number, number];
  block: TransformerBlockInfo;
}

/** Canonical LDM key of one K/V weight: `<prefix><module>.transformer_blocks.<depth>.<attn>.<proj>.weight`. */
export function kvWeightKey(module: string, depth: number, attn: KvAttention, proj: KvProjection): string {
  return `${UNET_KEY_PREFIX}${module}.transformer_blocks.${depth}.${attn}.${proj}.weight`;
}

/** The K/V weights a scope covers, in forward order (per block: attn1 k, v, then attn2 k, v). */
export function kvWeights(u: UNetConfig, scope: KvScope): KvWeightInfo[] {
  const out: KvWeightInfo[] = [];
  for (const block of unetTransformerModules(u)) {
    for (let d = 0; d < u.transformerDepth; d++) {
      for (const attn of ['attn1', 'attn2'] as const) {
        if (attn === 'attn1' && scope !== 'all') continue;
        for (const proj of ['to_k', 'to_v'] as const) {
          out.push({
            key: kvWeightKey(block.module, d, attn, proj),
            attn,
            proj,
            shape: [block.channels, attn === 'attn1' ? block.channels : u.contextDim],
            block,
          });
        }
      }
    }
  }
  return out;
}

/** Whether `key` is a K/V weight inside `scope`. */
export function inKvScope(key: string, scope: KvMode): boolean {
  if (scope === 'none') return false;
  const name = parseKvWeightKey(key);
  if (!name) return false;
  return scope === 'all' || name.attention === 'attn2';
}

/** Graph input carrying the multiplicative mask / ξ of one K/V weight (same shape as the weight). */
export function kvInputName(key: string): string {
  return `xi:${key}`;
}

/** Training-graph output carrying ∂loss/∂ξ of one K/V weight. */
export function kvGradName(key: string): string {
  return `grad:${key}`;
}
