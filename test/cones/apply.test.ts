import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyConceptMask } from '../../src/cones/apply.js';
import { type Concept, createConcept } from '../../src/cones/concept.js';
import { kvShapesFromCheckpoint } from '../../src/cones/layers.js';
import { openCheckpoint, type SD1Checkpoint } from '../../src/sd/checkpoint/checkpoint.js';
import { loadSd1Sessions, type Sd1Sessions } from '../../src/sd/graphs/sessions.js';
import { kvMasks } from '../../src/sd/pipeline/kv-patches.js';
import { modelFromCheckpoint } from '../../src/sd/pipeline/values.js';
import { type TinyModelFixture, tinyModel } from './extract-fixtures.js';
import { seededRandom } from './helpers.js';

let m: TinyModelFixture;
let ckpt: SD1Checkpoint;
let sessions: Sd1Sessions;

function randomConceptFor(fingerprint: string, seed: number): Concept {
  const shapes = kvShapesFromCheckpoint('cross-attention K/V', ckpt);
  const random = seededRandom(seed);
  const indices = new Map<string, number[]>();
  for (const [key, [o, i]] of shapes) {
    const picked: number[] = [];
    for (let j = 0; j < o * i; j++) if (random() < 0.02) picked.push(j);
    indices.set(key, picked);
  }
  return createConcept({
    identifier: 'sks',
    class_noun: 'ball',
    base_model: { fingerprint, architecture: 'sd1' },
    scope: 'cross-attention K/V',
    shapes,
    indices,
    origin: {
      kind: 'extracted',
      hyper_parameters: {
        steps: 1,
        learning_rate: 1,
        selection: 'threshold',
        threshold: 0,
        batch_size: 1,
        prior_loss_weight: 1,
        resolution: 64,
        seed: 0,
      },
    },
  });
}

beforeAll(async () => {
  m = await tinyModel(5);
  ckpt = await openCheckpoint(m.path);
  sessions = loadSd1Sessions(ckpt, join(m.dir, 'onnx'), { session: { executionProvider: 'cpu' } });
});
afterAll(async () => {
  await sessions.release();
  await ckpt.close();
});

describe('Apply Concept Mask', () => {
  it('returns a new MODEL with one K/V mask patch and leaves the input MODEL untouched', () => {
    const model = modelFromCheckpoint(m.handle);
    const concept = randomConceptFor(m.handle.fingerprint, 1);
    const patched = applyConceptMask(model, concept, { strength: 1 });
    expect(model.patches).toHaveLength(0);
    expect(patched.patches).toHaveLength(1);
    expect(patched.checkpoint).toBe(model.checkpoint);
    const patch = patched.patches[0];
    expect(patch.strength).toBe(1);
    expect(Object.keys(patch.indicesByKey).length).toBe(
      concept.layers.filter((l) => l.indices.length > 0).length,
    );
  });

  it('changes exactly the selected weights: base ⊙ mask differs from base at the concept neurons only', async () => {
    const concept = randomConceptFor(m.handle.fingerprint, 2);
    const shapes = new Map(concept.layers.map((l) => [l.key, l.shape] as const));
    for (const strength of [1, 0.25]) {
      const patched = applyConceptMask(modelFromCheckpoint(m.handle), concept, { strength });
      const masks = kvMasks(patched.patches, shapes);
      for (const layer of concept.layers) {
        const base = await ckpt.readF32(layer.key);
        const mask = masks.get(layer.key)!;
        const changed: number[] = [];
        for (let i = 0; i < base.length; i++) {
          const eff = Math.fround(base[i] * mask[i]);
          if (eff !== base[i]) changed.push(i);
          if (mask[i] !== 1) expect(eff).toBe(Math.fround(base[i] * Math.fround(1 - strength)));
        }
        expect(changed).toEqual(Array.from(layer.indices));
      }
    }
  });

  it("changes the UNet's output, and a zero-strength mask does not", async () => {
    const concept = randomConceptFor(m.handle.fingerprint, 3);
    const shapes = new Map(concept.layers.map((l) => [l.key, l.shape] as const));
    const unet = await sessions.unet({ batch: 1, height: 8, width: 8, kvMode: 'cross-attention' });
    const random = seededRandom(9);
    const sample = Float32Array.from({ length: 4 * 64 }, () => random() * 2 - 1);
    const context = Float32Array.from({ length: 77 * ckpt.config.unet.contextDim }, () => random() - 0.5);
    const run = (strength: number) =>
      unet.run({
        sample,
        timestep: Float32Array.of(500),
        context,
        kvMasks: kvMasks(
          applyConceptMask(modelFromCheckpoint(m.handle), concept, { strength }).patches,
          shapes,
        ),
      });
    const plain = await unet.run({ sample, timestep: Float32Array.of(500), context });
    const shut = await run(1);
    const none = await run(0);
    expect(Array.from(none)).toEqual(Array.from(plain));
    let diff = 0;
    for (let i = 0; i < plain.length; i++) diff = Math.max(diff, Math.abs(shut[i] - plain[i]));
    expect(diff).toBeGreaterThan(1e-4);
  }, 60_000);

  it('refuses a concept made on another base model, naming both fingerprints, unless allow_mismatch', () => {
    const concept = randomConceptFor('sha256:0123456789abcdef-other-model', 4);
    const model = modelFromCheckpoint(m.handle);
    expect(() => applyConceptMask(model, concept)).toThrow(
      new RegExp(
        `sha256:0123456789abcdef-other-model.*${m.handle.fingerprint.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
      ),
    );
    const forced = applyConceptMask(model, concept, { allowMismatch: true });
    expect(forced.patches[0].fingerprint).toBe(m.handle.fingerprint);
  });

  it('refuses a strength outside [0, 1]', () => {
    const concept = randomConceptFor(m.handle.fingerprint, 5);
    expect(() => applyConceptMask(modelFromCheckpoint(m.handle), concept, { strength: 1.5 })).toThrow(
      /strength/,
    );
  });
});
