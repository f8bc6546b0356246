import { describe, expect, it } from 'vitest';
import { layerChartImage, layerChartSvg } from '../../src/cones/chart.js';
import { decodeConcept, encodeConcept } from '../../src/cones/file.js';
import { conceptInfo, formatConceptInfo } from '../../src/cones/info.js';
import { randomConcept } from './helpers.js';

describe('concept info', () => {
  it('counts neurons per layer, sparsity, bytes on disk and the ratio to an int32 list', () => {
    const concept = decodeConcept(encodeConcept(randomConcept({ seed: 3, density: 0.05 })).bytes);
    const info = conceptInfo(concept);
    const total = concept.layers.reduce((s, l) => s + l.indices.length, 0);
    expect(info.totalCount).toBe(total);
    expect(info.layers.map((l) => l.count)).toEqual(concept.layers.map((l) => l.indices.length));
    expect(info.density).toBeCloseTo(total / info.totalParameters, 12);
    expect(info.fileBytes).toBe(concept.file!.byteLength);
    expect(info.int32Bytes).toBe(4 * total);
    expect(info.compressionRatio).toBeCloseTo((4 * total) / info.fileBytes, 12);
    expect(info.indexBytes).toBeLessThan(info.fileBytes);
    const text = formatConceptInfo(info);
    expect(text).toContain(`${total.toLocaleString('en-US')} of`);
    expect(text).toContain('in1 attn2.k');
  });

  it('says how the concept was extracted: steps, or rounds × steps for repeated extraction', () => {
    const concept = randomConcept({ seed: 4, density: 0.01 });
    expect(formatConceptInfo(conceptInfo(concept))).toMatch(
      /origin +extracted \(10 steps, lr 0\.00002, top 1\.00%\)/,
    );
    const origin = concept.description.origin;
    if (origin.kind !== 'extracted') throw new Error('expected an extracted concept');
    origin.hyper_parameters.rounds = 3;
    expect(formatConceptInfo(conceptInfo(concept))).toMatch(/origin +extracted \(3 rounds × 10 steps, lr/);
  });

  it('sizes a concept made in memory as it would be written', () => {
    const concept = randomConcept({ seed: 4, density: 0.01 });
    expect(conceptInfo(concept).fileBytes).toBe(encodeConcept(concept).bytes.length);
  });
});

describe('per-layer chart', () => {
  it('is an IMAGE tensor [1, H, W, 3] in 0..1 with bars and text, not a blank canvas', async () => {
    const info = conceptInfo(randomConcept({ seed: 5, density: 0.01, scope: 'all attention K/V' }));
    const image = await layerChartImage(info, { width: 800, height: 400 });
    expect(image.shape).toEqual([1, 400, 800, 3]);
    expect(image.data.length).toBe(400 * 800 * 3);
    let min = 1;
    let max = 0;
    let dark = 0;
    let reddish = 0;
    for (let p = 0; p < image.data.length; p += 3) {
      const [r, g, b] = [image.data[p], image.data[p + 1], image.data[p + 2]];
      min = Math.min(min, r, g, b);
      max = Math.max(max, r, g, b);
      if (r + g + b < 0.6) dark++; // text and axes
      if (r > 0.8 && g < 0.45 && b < 0.45) reddish++; // attn2.k bars
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThanOrEqual(1);
    expect(dark).toBeGreaterThan(500);
    expect(reddish).toBeGreaterThan(500);
  });

  it('labels the axes and every block', () => {
    const svg = layerChartSvg(conceptInfo(randomConcept({ seed: 6, density: 0.01 })));
    for (const label of ['concept neurons', 'transformer block', 'in1', 'mid', 'out11', 'attn2.k'])
      expect(svg).toContain(label);
    expect(svg).not.toContain('attn1.k');
  });
});
