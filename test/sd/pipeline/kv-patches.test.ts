import { describe, expect, it } from 'vitest';
import { checkPatchFingerprints, kvMasks, scopeForPatches } from '../../../src/sd/pipeline/kv-patches.js';
import type { KvMaskPatch } from '../../../src/sd/pipeline/values.js';

const K2 = 'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight';
const V1 = 'model.diffusion_model.middle_block.1.transformer_blocks.0.attn1.to_v.weight';

const patch = (
  indicesByKey: Record<string, number[]>,
  strength: number,
  fingerprint?: string,
): KvMaskPatch => ({
  kind: 'cones.kv-mask',
  indicesByKey: Object.fromEntries(Object.entries(indicesByKey).map(([k, v]) => [k, Uint32Array.from(v)])),
  strength,
  fingerprint,
});

describe('K/V patches → masks', () => {
  it('picks the smallest switchable scope that covers the patched keys', () => {
    expect(scopeForPatches([])).toBe('none');
    expect(scopeForPatches([patch({ [K2]: [0] }, 1)])).toBe('cross-attention');
    expect(scopeForPatches([patch({ [K2]: [0] }, 1), patch({ [V1]: [1] }, 1)])).toBe('all');
    expect(() => scopeForPatches([patch({ 'model.diffusion_model.out.2.weight': [0] }, 1)])).toThrow(
      /not a UNet K\/V/,
    );
    // Only the canonical UNet key pattern counts (src/sd/graphs/kv.ts), not any key ending like one.
    const vaeLike = 'first_stage_model.mid.1.transformer_blocks.0.attn2.to_k.weight';
    expect(() => scopeForPatches([patch({ [vaeLike]: [0] }, 1)])).toThrow(/not a UNet K\/V/);
  });

  it('shuts listed entries to 1 − strength and multiplies overlapping patches', () => {
    const shapes = new Map<string, [number, number]>([
      [K2, [2, 3]],
      [V1, [2, 2]],
    ]);
    const masks = kvMasks([patch({ [K2]: [0, 4] }, 0.5), patch({ [K2]: [4, 5] }, 1)], shapes);
    expect([...masks.get(K2)!]).toEqual([0.5, 1, 1, 1, 0, 0]);
    expect([...masks.get(V1)!]).toEqual([1, 1, 1, 1]);
  });

  it('refuses indices outside the weight and strengths outside [0, 1]', () => {
    const shapes = new Map<string, [number, number]>([[K2, [2, 3]]]);
    expect(() => kvMasks([patch({ [K2]: [6] }, 1)], shapes)).toThrow(/outside/);
    expect(() => kvMasks([patch({ [K2]: [0] }, 1.5)], shapes)).toThrow(/strength/);
  });

  it('refuses patches made on another base model', () => {
    expect(() => checkPatchFingerprints([patch({ [K2]: [0] }, 1, 'aaa')], 'bbb')).toThrow(
      /another base model/,
    );
    expect(() =>
      checkPatchFingerprints([patch({ [K2]: [0] }, 1, 'aaa'), patch({ [K2]: [0] }, 1)], 'aaa'),
    ).not.toThrow();
  });
});
