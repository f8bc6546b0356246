import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Concept } from '../../src/cones/concept.js';
import { DEFAULT_REFINE_SETTINGS } from '../../src/cones/extract/protocol.js';
import { runExtraction, runRefinement } from '../../src/cones/extract/worker.js';
import { mergeConcepts } from '../../src/cones/merge.js';
import { refineProblem } from '../../src/cones/refine.js';
import {
  discPhotos,
  extractPayload,
  taskContext,
  tinyModelForFile,
  tinySettings,
} from './extract-fixtures.js';

const m = tinyModelForFile(4);
let ball: Concept;
let box: Concept;

beforeAll(async () => {
  const dir = mkdtempSync(join(m.dir, 'cones-'));
  const settings = tinySettings({ steps: 3, topFraction: 0.05 });
  ball = (await runExtraction({ ...extractPayload(m, dir), keepTrainingData: true, settings }, taskContext()))
    .concept;
  box = (
    await runExtraction(
      {
        ...extractPayload(m, dir),
        images: discPhotos(2, 64, [0.1, 0.2, 0.9], 3),
        identifier: 'zwx',
        classNoun: 'box',
        keepTrainingData: true,
        settings,
      },
      taskContext(),
    )
  ).concept;
}, 120_000);

describe('Merge refinement (paper §3.3)', () => {
  it('keeps a subset of the union, moving ξ only inside the union', async () => {
    const { concept: union } = mergeConcepts([ball, box], { refineSteps: 2 });
    const r = await runRefinement(
      {
        checkpoint: m.handle,
        merged: union,
        sources: [ball, box],
        settings: { ...DEFAULT_REFINE_SETTINGS, learningRate: 0.05, steps: 2 },
        returnXi: true,
      },
      taskContext(),
    );
    expect(r.losses).toHaveLength(2);
    let inside = 0;
    let movedInside = 0;
    union.layers.forEach((layer, k) => {
      const xi = r.xi![layer.key];
      const members = new Set(layer.indices);
      for (let i = 0; i < xi.length; i++) {
        if (members.has(i)) {
          inside++;
          if (xi[i] !== 1) movedInside++;
        } else expect(xi[i]).toBe(1);
      }
      const kept = Array.from(r.concept.layers[k].indices);
      expect(kept.every((i) => members.has(i))).toBe(true);
      // kept = union ∩ {M_p > 0}
      expect(kept).toEqual(Array.from(layer.indices).filter((i) => (1 - xi[i]) / 0.05 > 0));
    });
    expect(inside).toBeGreaterThan(0);
    expect(movedInside).toBeGreaterThan(0);
    const total = r.concept.layers.reduce((s, l) => s + l.indices.length, 0);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(inside);
    expect(r.concept.description.origin).toMatchObject({ kind: 'merged', refine_steps: 2 });
  }, 120_000);

  it('refuses concepts without kept training data, naming them', async () => {
    const bare: Concept = { ...box, training: undefined };
    expect(refineProblem([ball, bare])).toMatch(/'zwx box'.*keep_training_data/);
    const { concept: union } = mergeConcepts([ball, bare]);
    await expect(
      runRefinement(
        {
          checkpoint: m.handle,
          merged: union,
          sources: [ball, bare],
          settings: { ...DEFAULT_REFINE_SETTINGS, steps: 1 },
        },
        taskContext(),
      ),
    ).rejects.toThrow(/training data.*keep_training_data/);
  });
});
