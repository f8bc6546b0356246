/**
 * The concept data model: for every K/V weight in a scope that the base model holds, the sorted set of flat indices of its
 * concept neurons (row-major `[out, in]`), plus descriptive metadata. This is the runtime value of a
 * CONCEPT socket; the file format (file.ts) stores exactly this.
 */
import type { Tensor } from '../shared/types.js';
import { version as toolVersion } from '../shared/version.js';
import { checkIndices, IndexStreamError } from './codec.js';
import {
  type ConceptScope,
  inConceptScope,
  type KvLayoutConfig,
  kvShapes,
  parseKvWeightKey,
  scopeKeysProblem,
  type WeightShape,
} from './layers.js';
import type { ConceptMetadata, ConceptOrigin } from './metadata-schema.js';

/** Everything in the file metadata that is not derived from the layers. */
export type ConceptDescription = Omit<
  ConceptMetadata,
  'format' | 'version' | 'layers' | 'total_count' | 'total_parameters_in_scope' | 'training_data'
>;

export interface ConceptLayer {
  /** Canonical LDM key, e.g. `model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`. */
  key: string;
  /** `[out, in]`. */
  shape: WeightShape;
  /** Strictly increasing flat indices `row · in + column` of the concept neurons. */
  indices: Uint32Array;
}

/** Opt-in copy of what extraction trained on, so Merge can refine (paper §3.3) without the images. */
export interface ConceptTrainingData {
  instancePrompt: string;
  priorPrompt?: string;
  /** VAE latents (already scaled), [N, 4, h, w]. */
  instanceLatents: Tensor;
  priorLatents?: Tensor;
}

/** Facts about the file a concept was read from (absent for concepts made in memory). */
export interface ConceptFileFacts {
  byteLength: number;
  /** SHA-256 (hex) of the whole file, the identity used when embedding it in workflows. */
  sha256: string;
  /** Encoded index stream size and codec per layer key. */
  streams: Map<string, { bytes: number; codec: string }>;
}

export interface Concept {
  description: ConceptDescription;
  /** Every weight in scope, in canonical order (zero-count layers included). */
  layers: ConceptLayer[];
  training?: ConceptTrainingData;
  /** Content checksum `sha256:<hex>` (tensor bytes + canonical metadata); set once written or read. */
  checksum?: string;
  file?: ConceptFileFacts;
}

export class ConceptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConceptError';
  }
}

export interface CreateConceptOptions {
  identifier: string;
  class_noun: string;
  base_model: ConceptDescription['base_model'];
  scope: ConceptScope;
  origin: ConceptOrigin;
  /** Weight shapes: from the model (`kvShapesFromCheckpoint`) or a layout config (default SD1). */
  shapes?: ReadonlyMap<string, WeightShape> | KvLayoutConfig;
  /** Concept neurons per weight key; keys not given get an empty set. */
  indices: ReadonlyMap<string, ArrayLike<number>> | Readonly<Record<string, ArrayLike<number>>>;
  training?: ConceptTrainingData;
  created?: Date | string;
}

/** Builds a concept, checking that every key is in scope and every index set is sorted, unique and in range. */
export function createConcept(options: CreateConceptOptions): Concept {
  const shapes =
    options.shapes instanceof Map
      ? options.shapes
      : kvShapes(options.scope, options.shapes as KvLayoutConfig | undefined);
  const keys = [...shapes.keys()];
  const problem = scopeKeysProblem(keys, options.scope);
  if (problem) throw new ConceptError(`bad weight shapes: ${problem}`);
  const given =
    options.indices instanceof Map
      ? (options.indices as ReadonlyMap<string, ArrayLike<number>>)
      : new Map(Object.entries(options.indices as Record<string, ArrayLike<number>>));
  for (const key of given.keys()) {
    if (keys.includes(key)) continue;
    const w = parseKvWeightKey(key);
    if (w && inConceptScope(w, options.scope))
      throw new ConceptError(
        `weight '${key}' is not in the model (its scope '${options.scope}' has ${keys.length} weights)`,
      );
    throw new ConceptError(`weight '${key}' is not in scope '${options.scope}'`);
  }
  const layers: ConceptLayer[] = keys.map((key) => {
    const shape = shapes.get(key)!;
    const raw = given.get(key) ?? new Uint32Array(0);
    try {
      checkIndices(raw, shape[0] * shape[1], key);
    } catch (e) {
      if (e instanceof IndexStreamError) throw new ConceptError(e.message);
      throw e;
    }
    return {
      key,
      shape: [shape[0], shape[1]],
      indices: raw instanceof Uint32Array ? raw : Uint32Array.from(raw),
    };
  });
  const created = options.created ?? new Date();
  return {
    description: {
      identifier: options.identifier,
      class_noun: options.class_noun,
      base_model: options.base_model,
      scope: options.scope,
      origin: options.origin,
      creator: { tool: 'cones-nodes', version: toolVersion },
      created: typeof created === 'string' ? created : created.toISOString(),
    },
    layers,
    training: options.training,
  };
}

export const numel = (layer: { shape: readonly number[] }): number => layer.shape[0] * layer.shape[1];

export function totalCount(concept: Concept): number {
  return concept.layers.reduce((sum, l) => sum + l.indices.length, 0);
}

export function totalParameters(concept: Concept): number {
  return concept.layers.reduce((sum, l) => sum + numel(l), 0);
}

/** "sks dog", the name used in messages. */
export function conceptLabel(concept: Concept): string {
  return `${concept.description.identifier} ${concept.description.class_noun}`;
}

export function getLayer(concept: Concept, key: string): ConceptLayer | undefined {
  return concept.layers.find((l) => l.key === key);
}

/**
 * Multiplicative mask for one weight (θ ⊙ M): 1 everywhere, `1 − strength` at the concept neurons
 * (strength 1 shuts them fully, as the paper's binary Cones).
 */
export function layerScale(layer: ConceptLayer, strength = 1): Float32Array {
  const scale = new Float32Array(numel(layer)).fill(1);
  const value = 1 - strength;
  for (let i = 0; i < layer.indices.length; i++) scale[layer.indices[i]] = value;
  return scale;
}

/** Flat indices with score > τ (the paper's M_p > τ rule). */
export function indicesAboveThreshold(scores: Float32Array, threshold: number): Uint32Array {
  // Compare in float32, the scores' precision (0.2 as a double is below float32 0.2).
  threshold = Math.fround(threshold);
  let n = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] > threshold) n++;
  const out = new Uint32Array(n);
  let k = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] > threshold) out[k++] = i;
  return out;
}

/**
 * The `fraction` of all elements (across every layer) with the largest scores, ties broken toward the
 * earlier layer and lower index, so the result is deterministic. NaN scores are never selected.
 */
export function topFractionIndices(
  scores: ReadonlyMap<string, Float32Array>,
  fraction: number,
): Map<string, Uint32Array> {
  if (!(fraction > 0 && fraction <= 1))
    throw new ConceptError(`top fraction must be in (0, 1], got ${fraction}`);
  let total = 0;
  for (const s of scores.values()) total += s.length;
  const k = Math.min(total, Math.round(total * fraction));
  const result = new Map<string, Uint32Array>();
  if (k === 0) {
    for (const key of scores.keys()) result.set(key, new Uint32Array(0));
    return result;
  }
  // k-th largest value by quickselect on a copy (NaN → −∞).
  const all = new Float32Array(total);
  let o = 0;
  for (const s of scores.values()) {
    for (let i = 0; i < s.length; i++) all[o++] = Number.isNaN(s[i]) ? Number.NEGATIVE_INFINITY : s[i];
  }
  const kth = quickselectDescending(all, k - 1);
  let above = 0;
  for (const s of scores.values()) for (let i = 0; i < s.length; i++) if (s[i] > kth) above++;
  let tiesLeft = k - above;
  for (const [key, s] of scores) {
    const picked: number[] = [];
    for (let i = 0; i < s.length; i++) {
      if (s[i] > kth) picked.push(i);
      else if (s[i] === kth && tiesLeft > 0) {
        picked.push(i);
        tiesLeft--;
      }
    }
    result.set(key, Uint32Array.from(picked));
  }
  return result;
}

/** Value that would sit at position `k` if `a` were sorted in descending order (reorders `a`). */
function quickselectDescending(a: Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}
