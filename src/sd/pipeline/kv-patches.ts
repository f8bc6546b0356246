/**
 * Turns a MODEL's patch list into the UNet graph's switchable K/V inputs: one multiplicative mask per
 * K/V weight (same shape as the weight, 1 = unchanged). Patches compose by multiplication, so two
 * concepts that shut the same neuron at strength 1 still shut it, and the base weights never change.
 */
import { parseKvWeightKey } from '../graphs/kv.js';
import type { ModelPatch } from './values.js';

export type KvScopeNeeded = 'none' | 'cross-attention' | 'all';

/** The smallest switchable scope that covers every key the patches touch. */
export function scopeForPatches(patches: readonly ModelPatch[]): KvScopeNeeded {
  let scope: KvScopeNeeded = 'none';
  for (const patch of patches) {
    for (const key of Object.keys(patch.indicesByKey)) {
      const name = parseKvWeightKey(key);
      if (!name)
        throw new Error(
          `patch${patch.label ? ` '${patch.label}'` : ''} targets '${key}', which is not a UNet K/V weight`,
        );
      if (name.attention === 'attn1') return 'all';
      scope = 'cross-attention';
    }
  }
  return scope;
}

/** Refuses patches made on another base model (their indices would address the wrong neurons). */
export function checkPatchFingerprints(patches: readonly ModelPatch[], fingerprint: string): void {
  for (const patch of patches) {
    if (patch.fingerprint && patch.fingerprint !== fingerprint) {
      throw new Error(
        `concept${patch.label ? ` '${patch.label}'` : ''} was made on another base model (fingerprint ${patch.fingerprint}, this model ${fingerprint})`,
      );
    }
  }
}

/**
 * Multiplicative masks for the given K/V weights (`shapes`: key → [out, in]). Keys that no patch
 * touches get an all-ones mask, shared between keys of the same size.
 */
export function kvMasks(
  patches: readonly ModelPatch[],
  shapes: ReadonlyMap<string, readonly [number, number]>,
): Map<string, Float32Array> {
  const masks = new Map<string, Float32Array>();
  const ones = new Map<number, Float32Array>();
  for (const [key, [rows, cols]] of shapes) {
    const size = rows * cols;
    let mask: Float32Array | undefined;
    for (const patch of patches) {
      const indices = patch.indicesByKey[key];
      if (!indices || indices.length === 0) continue;
      if (!(patch.strength >= 0 && patch.strength <= 1))
        throw new Error(`patch strength ${patch.strength} is outside [0, 1]`);
      mask ??= new Float32Array(size).fill(1);
      const keep = 1 - patch.strength;
      for (const index of indices) {
        if (index >= size) throw new Error(`patch index ${index} is outside '${key}' (${rows}×${cols})`);
        mask[index] *= keep;
      }
    }
    if (!mask) {
      mask = ones.get(size) ?? new Float32Array(size).fill(1);
      ones.set(size, mask);
    }
    masks.set(key, mask);
  }
  for (const patch of patches) {
    for (const key of Object.keys(patch.indicesByKey)) {
      if (!shapes.has(key)) throw new Error(`patch targets '${key}', which this model does not switch`);
    }
  }
  return masks;
}
