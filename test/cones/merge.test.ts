import { describe, expect, it } from 'vitest';
import { createConcept } from '../../src/cones/concept.js';
import { decodeConcept, encodeConcept } from '../../src/cones/file.js';
import { conceptInfo, formatConceptInfo } from '../../src/cones/info.js';
import { scopeWeightKeys } from '../../src/cones/layers.js';
import { formatMergeStats, mergeConcepts, overlapStats } from '../../src/cones/merge.js';
import { randomConcept, TINY_LAYOUT } from './helpers.js';

const [K0, K1] = scopeWeightKeys('cross-attention K/V');
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

function concept(identifier: string, layer0: number[], layer1: number[], fingerprint = 'model-a') {
  return createConcept({
    identifier,
    class_noun: 'thing',
    base_model: { fingerprint, name: fingerprint, architecture: 'sd1' },
    scope: 'cross-attention K/V',
    origin: {
      kind: 'extracted',
      hyper_parameters: {
        steps: 5,
        learning_rate: 1e-3,
        selection: 'threshold',
        threshold: 0.1,
        batch_size: 1,
        prior_loss_weight: 1,
        resolution: 64,
        seed: 0,
      },
    },
    shapes: TINY_LAYOUT,
    indices: { [K0]: layer0, [K1]: layer1 },
    created: '2026-01-01T00:00:00.000Z',
  });
}

describe('merge concepts', () => {
  const a = concept('aaa', range(0, 100), [0, 1]);
  const b = concept('bbb', range(90, 190), [1]);
  const c = concept('ccc', [...range(95, 105), 500], []);

  it('is the union of the index sets, layer by layer', () => {
    const { concept: merged } = mergeConcepts([a, b]);
    expect(Array.from(merged.layers[0].indices)).toEqual(range(0, 190));
    expect(Array.from(merged.layers[1].indices)).toEqual([0, 1]);
    expect(merged.layers.slice(2).every((l) => l.indices.length === 0)).toBe(true);
    expect(merged.description.identifier).toBe('aaa+bbb');
    expect(merged.description.origin.kind).toBe('merged');
  });

  it('reports shared neurons as a percentage of the union, per layer and in total (Fig. 4)', () => {
    const stats = overlapStats([a, b]);
    expect(stats.layers[0].groups).toEqual([
      { sources: [0, 1], shared: 10, union: 190, percent: (100 * 10) / 190 },
    ]);
    expect(stats.layers[1].groups[0]).toMatchObject({ shared: 1, union: 2, percent: 50 });
    expect(stats.total.counts).toEqual([102, 101]);
    expect(stats.total.union).toBe(192);
    expect(stats.total.groups[0]).toMatchObject({ shared: 11, union: 192 });
  });

  it('gives every pair and the all-way overlap for three concepts', () => {
    const stats = overlapStats([a, b, c]);
    const groups = stats.total.groups.map((g) => [g.sources.join(''), g.shared, g.union]);
    expect(groups).toEqual([
      ['01', 11, 192],
      ['02', 5, 102 + 11 - 5],
      ['12', 10, 101 + 11 - 10],
      ['012', 5, 193],
    ]);
    const text = formatMergeStats(stats);
    expect(text).toMatch(/A∩B∩C\s+5 of\s+193\s+2\.59%/);
  });

  it('survives the file round trip with its sources and overlap recorded', () => {
    const { concept: merged } = mergeConcepts([a, b, c]);
    const back = decodeConcept(encodeConcept(merged).bytes);
    const origin = back.description.origin;
    if (origin.kind !== 'merged') throw new Error('expected merged origin');
    expect(origin.sources.map((s) => s.identifier)).toEqual(['aaa', 'bbb', 'ccc']);
    expect(origin.overlap?.at(-1)).toMatchObject({ sources: [0, 1, 2], shared: 5, union: 193 });
    const text = formatConceptInfo(conceptInfo(back));
    expect(text).toMatch(/source C\s+"ccc thing": 11 neurons/);
    expect(text).toMatch(/overlap A∩B∩C\s+5 shared of 193 \(2\.59%\)/);
  });

  it('refuses concepts of different base models, naming both', () => {
    const other = concept('zzz', [1], [], 'model-b');
    expect(() => mergeConcepts([a, other])).toThrow(
      /different base models: "aaa thing" \(model model-a, fingerprint model-a\) and "zzz thing" \(model model-b, fingerprint model-b\)/,
    );
  });

  it('refuses concepts of different scopes and fewer than two or more than four', () => {
    const wide = randomConcept({
      seed: 1,
      density: 0.001,
      scope: 'all attention K/V',
      fingerprint: 'model-a',
    });
    expect(() => mergeConcepts([a, wide])).toThrow(
      /different scopes: "aaa thing" \(cross-attention K\/V\) and "sks dog" \(all attention K\/V\)/,
    );
    expect(() => mergeConcepts([a])).toThrow(/2 to 4/);
    expect(() => mergeConcepts([a, b, c, a, b])).toThrow(/2 to 4/);
  });

  it('merges random concepts at realistic density with a small overlap', () => {
    const x = randomConcept({ seed: 11, density: 0.01, fingerprint: 'm' });
    const y = randomConcept({ seed: 12, density: 0.01, fingerprint: 'm', identifier: 'xyz' });
    const { stats } = mergeConcepts([x, y]);
    // Independent 1 % sets share about 0.5 % of their union.
    expect(stats.total.groups[0].percent).toBeGreaterThan(0.2);
    expect(stats.total.groups[0].percent).toBeLessThan(1);
  });
});
