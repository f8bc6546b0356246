/**
 * Smoke run of `npm run eval:toy` on the tiny RANDOM model through a real runtime worker: the report
 * and the files have the right shape. A random model's accuracies mean nothing, so no values are asserted.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SAMPLING, runToyEval, type ToyEvalResult } from '../../bench/toy-eval/evaluate.js';
import { markdownReport, writeToyEvalOutputs } from '../../bench/toy-eval/output.js';
import { WorkerRuntime } from '../../src/runtime/worker-runtime.js';
import { writeTinyModel } from '../../src/sd/tiny-model.js';
import { resolveRuntimeSettings } from '../../src/shared/runtime-settings.js';
import { EVAL_ATTRIBUTES, type Rates } from '../../src/toy/eval/score.js';

const dir = mkdtempSync(join(tmpdir(), 'toy-eval-'));
let runtime: WorkerRuntime;
let result: ToyEvalResult;

beforeAll(async () => {
  const checkpoint = join(dir, 'tiny.safetensors');
  await writeTinyModel(checkpoint, { seed: 1 });
  runtime = new WorkerRuntime({
    settings: resolveRuntimeSettings(
      { provider: 'cpu', threads: '1', 'graph-cache-dir': join(dir, 'onnx') },
      {},
    ),
  });
  result = await runToyEval(runtime, {
    checkpoint,
    vaeScenes: 2,
    heldOutVaeScenes: 1,
    seenPrompts: 1,
    heldOutPrompts: 0,
    seeds: 1,
    gridSeeds: 1,
    sampling: { ...DEFAULT_SAMPLING, steps: 2 },
    sceneSeed: 13,
  });
}, 120_000);
afterAll(() => runtime?.close());

function expectRates(rates: Rates, images: number) {
  expect(rates.images).toBe(images);
  for (const a of EVAL_ATTRIBUTES) {
    const r = rates.attributes[a];
    if (r !== null) expect(r).toBeGreaterThanOrEqual(0);
    if (r !== null) expect(r).toBeLessThanOrEqual(1);
  }
  expect(rates.allCorrect).not.toBeNull();
}

describe('toy eval on the tiny random model', () => {
  it('reports VAE reconstruction for both scene sets', () => {
    const vae = result.report.vae!;
    expect(vae.imagesPerSecond).toBeGreaterThan(0);
    for (const [set, scenes] of [
      [vae.seen, 2],
      [vae.heldOut, 1],
    ] as const) {
      expect(set.scenes).toBe(scenes);
      expect(set.mae.mean).toBeGreaterThanOrEqual(0);
      expect(set.mae.max).toBeLessThanOrEqual(255);
      for (const rates of [set.originals, set.reconstructions, set.agreement]) expectRates(rates, scenes);
    }
    expect(result.vaeExamples.originals).toHaveLength(3);
    expect(result.vaeExamples.reconstructions.map((r) => r.length)).toEqual([
      64 * 64 * 3,
      64 * 64 * 3,
      64 * 64 * 3,
    ]);
  });

  it('reports generation per prompt, the held-out set empty when it has no prompts', () => {
    const gen = result.report.generation!;
    expect(gen.imagesPerSecond).toBeGreaterThan(0);
    expect(gen.seen.prompts).toBe(1);
    expect(gen.seen.perPrompt.map((p) => p.text)).toEqual([
      'a photo of a large red circle on a white background',
    ]);
    expectRates(gen.seen.overall, 1);
    expectRates(gen.seen.perPrompt[0].rates, 1);
    expect(gen.seen.overall.attributes.pattern).toBeNull(); // a plain prompt names no pattern
    expect(gen.heldOut).toMatchObject({ prompts: 0, images: 0, perPrompt: [] });
    expect(result.grid.images).toHaveLength(1);
    expect(result.grid.images[0].map((rgb) => rgb.length)).toEqual([64 * 64 * 3]);
    expect(result.report.settings.sampling).toEqual({ ...DEFAULT_SAMPLING, steps: 2 });
    expect(result.report.wallSeconds).toBeGreaterThan(0);
  });

  it('writes the Markdown and JSON reports, the grid with its prompt list, and the VAE examples', async () => {
    const out = join(dir, 'out');
    const files = await writeToyEvalOutputs(out, result);
    expect(files.map((f) => f.slice(out.length + 1)).sort()).toEqual(
      ['grid.png', 'prompts.txt', 'report.json', 'report.md', 'vae-examples.png'].sort(),
    );
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'))).toEqual(result.report);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toBe(markdownReport(result.report));
    expect(md).toContain('## VAE reconstruction');
    expect(md).toContain('## Generation (euler / normal, CFG 5, 2 steps');
    expect(md).toContain('| a photo of a large red circle on a white background | 1 |');
    // one 64² tile under a 12 px caption strip, 2 px gaps; VAE examples: 3 originals over 3 reconstructions
    expect(await sharp(join(out, 'grid.png')).metadata()).toMatchObject({
      width: 68,
      height: 80,
      channels: 3,
    });
    expect(await sharp(join(out, 'vae-examples.png')).metadata()).toMatchObject({ width: 200, height: 134 });
    expect(readFileSync(join(out, 'prompts.txt'), 'utf8')).toContain(
      '1\tseen\ta photo of a large red circle on a white background',
    );
  });
});
