/**
 * Extract Concept on a model with fewer transformers than SD1, at other LDM positions (the toy demo's
 * layout: attention at two of three levels): the concept covers exactly the K/V weights the model
 * holds, travels through a concept file, and refuses a weight the model lacks.
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createConcept } from '../../../src/cones/concept.js';
import { runExtraction } from '../../../src/cones/extract/worker.js';
import { decodeConcept, encodeConcept } from '../../../src/cones/file.js';
import { kvShapes } from '../../../src/cones/layers.js';
import { demoConfig } from '../../../src/train/recipe.js';
import { extractPayload, taskContext, tinyModelForFile, tinySettings } from '../extract-fixtures.js';

const config = demoConfig();
const m = tinyModelForFile(5, config);

describe('Extract Concept on the toy demo layout', () => {
  it('finds neurons in every transformer the model has and nowhere else, for both scopes', async () => {
    for (const scope of ['cross-attention K/V', 'all attention K/V'] as const) {
      const r = await runExtraction(
        {
          ...extractPayload(m, mkdtempSync(join(m.dir, 'cache-'))),
          settings: tinySettings({ steps: 3, learningRate: 5, priorCount: 0, scope, topFraction: 0.01 }),
        },
        taskContext(),
      );
      const expected = kvShapes(scope, config.unet);
      expect(r.concept.layers.map((l) => [l.key, l.shape])).toEqual([...expected]);
      expect(r.concept.layers.some((l) => l.key.includes('input_blocks.3.1'))).toBe(true);
      const total = r.concept.layers.reduce((s, l) => s + l.indices.length, 0);
      expect(total).toBeGreaterThan(0);

      const back = decodeConcept(encodeConcept(r.concept).bytes);
      expect(back.layers.map((l) => Array.from(l.indices))).toEqual(
        r.concept.layers.map((l) => Array.from(l.indices)),
      );
      // An SD1 weight this model does not have is refused by name.
      const sd1Only = 'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight';
      expect(() =>
        createConcept({
          identifier: 'sks',
          class_noun: 'ball',
          base_model: r.concept.description.base_model,
          scope,
          origin: r.concept.description.origin,
          shapes: expected,
          indices: { [sd1Only]: [0] },
        }),
      ).toThrow(/input_blocks\.1\.1.*is not in the model/);
    }
  }, 240_000);
});
