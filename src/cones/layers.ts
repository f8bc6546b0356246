/**
 * The weights a concept can target: the K and V projections of SD1's 16 transformer blocks
 * (SD1_SPEC §2.3), named by their canonical LDM keys. A concept's flat indices address a weight
 * row-major as `[out, in]`, i.e. index = row · in + column.
 */
import { UNET_PREFIX } from '../sd/checkpoint/sd1-tensors.js';
import { SD1_CONFIG } from '../sd/config.js';
import { unetTransformerModules } from '../sd/graphs/kv.js';

/** Which K/V weights a concept searches: cross-attention only (as Custom Diffusion) or self + cross. */
export const CONCEPT_SCOPES = ['cross-attention K/V', 'all attention K/V'] as const;
export type ConceptScope = (typeof CONCEPT_SCOPES)[number];

export { UNET_PREFIX };

const SD1_BLOCKS = unetTransformerModules(SD1_CONFIG.unet);

/** LDM module prefixes of the 16 SpatialTransformers, in execution order (down, mid, up). */
export const SD1_TRANSFORMER_BLOCKS: readonly string[] = SD1_BLOCKS.map((b) => b.module);

/** UNet resolution level of each block (index into channel_mult); the middle block uses the last level. */
const BLOCK_LEVELS: readonly number[] = SD1_BLOCKS.map((b) => b.level);

export type KvAttention = 'attn1' | 'attn2';
export type KvProjection = 'to_k' | 'to_v';

export interface KvWeightName {
  key: string;
  /** 0..15, position in SD1_TRANSFORMER_BLOCKS. */
  block: number;
  attention: KvAttention;
  projection: KvProjection;
}

export function kvWeightKey(block: number, attention: KvAttention, projection: KvProjection): string {
  return `${UNET_PREFIX}${SD1_TRANSFORMER_BLOCKS[block]}.transformer_blocks.0.${attention}.${projection}.weight`;
}

/** Every K/V weight in a scope, in canonical order: block, then attn1 k/v, then attn2 k/v. */
export function scopeWeights(scope: ConceptScope): KvWeightName[] {
  const attentions: KvAttention[] = scope === 'all attention K/V' ? ['attn1', 'attn2'] : ['attn2'];
  const out: KvWeightName[] = [];
  for (let block = 0; block < SD1_TRANSFORMER_BLOCKS.length; block++) {
    for (const attention of attentions) {
      for (const projection of ['to_k', 'to_v'] as const) {
        out.push({ key: kvWeightKey(block, attention, projection), block, attention, projection });
      }
    }
  }
  return out;
}

export function scopeWeightKeys(scope: ConceptScope): string[] {
  return scopeWeights(scope).map((w) => w.key);
}

const KEY_PATTERN =
  /^model\.diffusion_model\.(.+)\.transformer_blocks\.0\.(attn1|attn2)\.(to_k|to_v)\.weight$/;

/** Parses a canonical K/V key; null when the key is not one of the 64 SD1 K/V weights. */
export function parseKvWeightKey(key: string): KvWeightName | null {
  const m = KEY_PATTERN.exec(key);
  if (!m) return null;
  const block = SD1_TRANSFORMER_BLOCKS.indexOf(m[1]);
  if (block < 0) return null;
  return { key, block, attention: m[2] as KvAttention, projection: m[3] as KvProjection };
}

/** Short label for charts and tables: `in1.1 attn2.k`, `mid attn1.v`, `out11.1 attn2.v`. */
export function shortBlockName(block: number): string {
  const prefix = SD1_TRANSFORMER_BLOCKS[block];
  if (prefix === 'middle_block.1') return 'mid';
  const [part, index] = prefix.split('.');
  return `${part === 'input_blocks' ? 'in' : 'out'}${index}`;
}

export function shortWeightName(key: string): string {
  const parsed = parseKvWeightKey(key);
  if (!parsed) return key;
  return `${shortBlockName(parsed.block)} ${parsed.attention}.${parsed.projection === 'to_k' ? 'k' : 'v'}`;
}

/** The UNet hyper-parameters that fix K/V shapes (SD1: 320, [1,2,4,4], 768). */
export interface KvLayoutConfig {
  modelChannels: number;
  channelMult: readonly number[];
  contextDim: number;
}

export const SD1_LAYOUT: KvLayoutConfig = { modelChannels: 320, channelMult: [1, 2, 4, 4], contextDim: 768 };

export type WeightShape = [number, number];

/** `[out, in]` of every weight in a scope: attn1 K/V are [C, C], attn2 K/V are [C, context]. */
export function kvShapes(scope: ConceptScope, layout: KvLayoutConfig = SD1_LAYOUT): Map<string, WeightShape> {
  const shapes = new Map<string, WeightShape>();
  for (const w of scopeWeights(scope)) {
    const mult = layout.channelMult[Math.min(BLOCK_LEVELS[w.block], layout.channelMult.length - 1)];
    const c = layout.modelChannels * mult;
    shapes.set(w.key, [c, w.attention === 'attn1' ? c : layout.contextDim]);
  }
  return shapes;
}

/** Where tensor shapes come from: a shape table, or an open checkpoint (`SD1Checkpoint` has `has`/`shapeOf`). */
export type ShapeSource =
  | ReadonlyMap<string, readonly number[]>
  | Readonly<Record<string, readonly number[]>>
  | { has(key: string): boolean; shapeOf(key: string): readonly number[] };

/**
 * K/V shapes read from a checkpoint's own tensor shapes (a safetensors header or an open checkpoint),
 * so tiny and full models alike get exactly what they hold. Throws naming the first missing or
 * non-2-D weight.
 */
export function kvShapesFromCheckpoint(scope: ConceptScope, source: ShapeSource): Map<string, WeightShape> {
  const lookup = (key: string): readonly number[] | undefined => {
    if (source instanceof Map) return source.get(key);
    const s = source as { has?: unknown; shapeOf?: unknown };
    if (typeof s.has === 'function' && typeof s.shapeOf === 'function') {
      const c = source as { has(key: string): boolean; shapeOf(key: string): readonly number[] };
      return c.has(key) ? c.shapeOf(key) : undefined;
    }
    return (source as Record<string, readonly number[]>)[key];
  };
  const shapes = new Map<string, WeightShape>();
  for (const key of scopeWeightKeys(scope)) {
    const shape = lookup(key);
    if (!shape) throw new Error(`checkpoint has no tensor '${key}' (needed for scope '${scope}')`);
    if (shape.length !== 2)
      throw new Error(`tensor '${key}' has shape [${shape.join(', ')}], expected [out, in]`);
    shapes.set(key, [shape[0], shape[1]]);
  }
  return shapes;
}
