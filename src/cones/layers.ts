/**
 * The weights a concept can target: the K and V projections of a UNet's transformer blocks
 * (SD1_SPEC §2.3), named by their canonical LDM keys. SD1 has 16 blocks; smaller SD1-architecture
 * models (the toy demo: attention at two of three levels) have fewer, at other LDM positions, so a
 * concept's weights are the scope's K/V weights that its base model holds. A concept's flat indices
 * address a weight row-major as `[out, in]`, i.e. index = row · in + column.
 */
import { UNET_PREFIX } from '../sd/checkpoint/sd1-tensors.js';
import { SD1_CONFIG, type UNetConfig } from '../sd/config.js';
import {
  type KvScope,
  type KvWeightName,
  kvWeightKey,
  kvWeights,
  parseKvWeightKey,
} from '../sd/graphs/kv.js';

/** Which K/V weights a concept searches: cross-attention only (as Custom Diffusion) or self + cross. */
export const CONCEPT_SCOPES = ['cross-attention K/V', 'all attention K/V'] as const;
export type ConceptScope = (typeof CONCEPT_SCOPES)[number];

/** The UNet graphs' name for each concept scope (src/sd/graphs/kv.ts). */
export const CONCEPT_SCOPE_TO_KV = {
  'cross-attention K/V': 'cross-attention',
  'all attention K/V': 'all',
} as const satisfies Record<ConceptScope, KvScope>;

export { type KvAttention, type KvProjection, type KvWeightName, parseKvWeightKey } from '../sd/graphs/kv.js';
export { UNET_PREFIX };

export function inConceptScope(name: KvWeightName, scope: ConceptScope): boolean {
  return scope === 'all attention K/V' || name.attention === 'attn2';
}

/** Execution order of a transformer module: input blocks, the middle block, then output blocks. */
export function moduleOrder(module: string): number {
  const [part, index] = module.split('.');
  if (part === 'input_blocks') return Number(index);
  if (part === 'middle_block') return 1000;
  return 2000 + Number(index);
}

/** Canonical order of K/V weights: module, depth, then attn1 k/v, attn2 k/v. */
export function compareKvWeights(a: KvWeightName, b: KvWeightName): number {
  return (
    moduleOrder(a.module) - moduleOrder(b.module) ||
    a.depth - b.depth ||
    a.attention.localeCompare(b.attention) ||
    a.projection.localeCompare(b.projection)
  );
}

/** The UNet hyper-parameters that fix which K/V weights exist and their shapes; missing ones are SD1's. */
export type KvLayoutConfig = Partial<
  Pick<
    UNetConfig,
    'modelChannels' | 'channelMult' | 'contextDim' | 'attentionLevels' | 'numResBlocks' | 'transformerDepth'
  >
>;

function layoutUnet(layout: KvLayoutConfig): UNetConfig {
  const unet: UNetConfig = { ...SD1_CONFIG.unet };
  for (const [name, value] of Object.entries(layout)) {
    if (value !== undefined) (unet as unknown as Record<string, unknown>)[name] = value;
  }
  return unet;
}

/** Every K/V weight of a scope in a UNet layout (default SD1), in canonical order. */
export function scopeWeights(scope: ConceptScope, layout: KvLayoutConfig = {}): KvWeightName[] {
  return kvWeights(layoutUnet(layout), CONCEPT_SCOPE_TO_KV[scope]).map((w) => parseKvWeightKey(w.key)!);
}

export function scopeWeightKeys(scope: ConceptScope, layout: KvLayoutConfig = {}): string[] {
  return scopeWeights(scope, layout).map((w) => w.key);
}

/** Short label for charts and tables: `in1`, `mid`, `out11` (with `.d` for a depth beyond 0). */
export function shortModuleName(module: string): string {
  if (module === 'middle_block.1') return 'mid';
  const [part, index] = module.split('.');
  return `${part === 'input_blocks' ? 'in' : 'out'}${index}`;
}

/** `in1 attn2.k`, `mid attn1.v`, `out11 attn2.v`; keys that are not K/V weights come back unchanged. */
export function shortWeightName(key: string): string {
  const w = parseKvWeightKey(key);
  if (!w) return key;
  const depth = w.depth > 0 ? `.${w.depth}` : '';
  return `${shortModuleName(w.module)}${depth} ${w.attention}.${w.projection === 'to_k' ? 'k' : 'v'}`;
}

export type WeightShape = [number, number];

/** `[out, in]` of every weight in a scope: attn1 K/V are [C, C], attn2 K/V are [C, context]. */
export function kvShapes(scope: ConceptScope, layout: KvLayoutConfig = {}): Map<string, WeightShape> {
  return new Map(
    kvWeights(layoutUnet(layout), CONCEPT_SCOPE_TO_KV[scope]).map(
      (w) => [w.key, [w.shape[0], w.shape[1]]] as const,
    ),
  );
}

/** Where tensor shapes come from: a shape table, or an open checkpoint (`SD1Checkpoint` has `keys`/`shapeOf`). */
export type ShapeSource =
  | ReadonlyMap<string, readonly number[]>
  | Readonly<Record<string, readonly number[]>>
  | { readonly keys: readonly string[]; shapeOf(key: string): readonly number[] };

function shapeTable(source: ShapeSource): Map<string, readonly number[]> {
  if (source instanceof Map) return new Map(source);
  const s = source as { keys?: unknown; shapeOf?: unknown };
  if (Array.isArray(s.keys) && typeof s.shapeOf === 'function') {
    const c = source as { keys: readonly string[]; shapeOf(key: string): readonly number[] };
    return new Map(c.keys.map((k) => [k, c.shapeOf(k)] as const));
  }
  return new Map(Object.entries(source as Record<string, readonly number[]>));
}

/**
 * The scope's K/V weights a checkpoint holds and their shapes, read from its own tensors (a
 * safetensors header or an open checkpoint), in canonical order — SD1's 32/64, or the few of a small
 * model. Every transformer the checkpoint has must hold all four of its K/V weights per depth; throws
 * naming a missing or non-2-D weight, or when the checkpoint has no transformer at all.
 */
export function kvShapesFromCheckpoint(scope: ConceptScope, source: ShapeSource): Map<string, WeightShape> {
  const table = shapeTable(source);
  const found = [...table.keys()].map(parseKvWeightKey).filter((w): w is KvWeightName => w !== null);
  const expected = new Map<string, KvWeightName>();
  for (const w of found) {
    for (const attention of ['attn1', 'attn2'] as const) {
      for (const projection of ['to_k', 'to_v'] as const) {
        const key = kvWeightKey(w.module, w.depth, attention, projection);
        expected.set(key, { key, module: w.module, depth: w.depth, attention, projection });
      }
    }
  }
  const weights = [...expected.values()].filter((w) => inConceptScope(w, scope)).sort(compareKvWeights);
  if (weights.length === 0)
    throw new Error(
      `checkpoint has no attention K/V weight (e.g. '${scopeWeightKeys(scope)[0]}'), so scope '${scope}' is empty`,
    );
  const shapes = new Map<string, WeightShape>();
  for (const { key } of weights) {
    const shape = table.get(key);
    if (!shape) throw new Error(`checkpoint has no tensor '${key}' (needed for scope '${scope}')`);
    if (shape.length !== 2)
      throw new Error(`tensor '${key}' has shape [${shape.join(', ')}], expected [out, in]`);
    shapes.set(key, [shape[0], shape[1]]);
  }
  return shapes;
}

/**
 * Why `keys` cannot be the weights of a concept of `scope`, or null: each must be a canonical K/V key
 * inside the scope, listed once, in canonical order, and every transformer (module and depth) must
 * come with all of the scope's K/V weights.
 */
export function scopeKeysProblem(keys: readonly string[], scope: ConceptScope): string | null {
  if (keys.length === 0) return `no weight of scope '${scope}'`;
  const names: KvWeightName[] = [];
  for (const key of keys) {
    const w = parseKvWeightKey(key);
    if (!w || !inConceptScope(w, scope)) return `weight '${key}' is not in scope '${scope}'`;
    names.push(w);
  }
  for (let i = 1; i < names.length; i++) {
    if (compareKvWeights(names[i - 1], names[i]) >= 0)
      return `weight '${names[i].key}' is repeated or out of canonical order`;
  }
  const perTransformer = scope === 'all attention K/V' ? 4 : 2;
  const counts = new Map<string, number>();
  for (const w of names)
    counts.set(`${w.module}/${w.depth}`, (counts.get(`${w.module}/${w.depth}`) ?? 0) + 1);
  for (const w of names) {
    if (counts.get(`${w.module}/${w.depth}`) !== perTransformer)
      return `transformer '${w.module}' lacks some of its K/V weights of scope '${scope}' (has '${w.key}')`;
  }
  return null;
}

/** `keys` in canonical K/V order (keys that are not K/V weights go last, in their given order). */
export function canonicalKvOrder(keys: readonly string[]): string[] {
  const parsed = keys.map(parseKvWeightKey);
  const kv = parsed.filter((w): w is KvWeightName => w !== null).sort(compareKvWeights);
  return [...kv.map((w) => w.key), ...keys.filter((_, i) => parsed[i] === null)];
}
