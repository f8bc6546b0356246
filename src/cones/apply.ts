/**
 * Apply Concept Mask: a new MODEL value whose patch list ends with the concept's K/V mask
 * (w ← w·(1 − strength) at the concept neurons). Non-destructive and cheap: nothing is rebuilt; the
 * sampler turns the patches into the UNet's mask inputs (src/sd/pipeline/kv-patches.ts).
 */
import type { KvMaskPatch, SdModel } from '../sd/pipeline/values.js';
import { withPatch } from '../sd/pipeline/values.js';
import { type Concept, ConceptError, conceptLabel } from './concept.js';

export interface ApplyOptions {
  /** 1 shuts the neurons fully (the paper's binary Cones); between 0 and 1 scales them by 1 − strength. */
  strength?: number;
  /** Apply a concept made on another base model anyway (its neurons then address other weights). */
  allowMismatch?: boolean;
}

export function conceptPatch(concept: Concept, strength: number, fingerprint?: string): KvMaskPatch {
  const indicesByKey: Record<string, Uint32Array> = {};
  for (const layer of concept.layers) if (layer.indices.length > 0) indicesByKey[layer.key] = layer.indices;
  return { kind: 'cones.kv-mask', label: conceptLabel(concept), fingerprint, indicesByKey, strength };
}

export function applyConceptMask(model: SdModel, concept: Concept, options: ApplyOptions = {}): SdModel {
  const strength = options.strength ?? 1;
  if (!(strength >= 0 && strength <= 1))
    throw new ConceptError(`strength must be in [0, 1], got ${strength}`);
  const conceptFp = concept.description.base_model.fingerprint;
  const modelFp = model.checkpoint.fingerprint;
  if (conceptFp !== modelFp && !options.allowMismatch) {
    throw new ConceptError(
      `concept '${conceptLabel(concept)}' was made on another base model (concept fingerprint ${conceptFp}, model fingerprint ${modelFp}); use the model it was extracted from, or set allow_mismatch`,
    );
  }
  // With allow_mismatch the patch carries the MODEL's fingerprint, so the sampler's check passes.
  return withPatch(model, conceptPatch(concept, strength, modelFp));
}
