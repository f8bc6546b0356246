/**
 * The toy model evaluation (issue #13): VAE reconstruction of seeded toy scenes and text-to-image
 * generation from captions, both read back with the toy world's attribute reader. Returns the report
 * (plain JSON) and the images for the grids; output.ts writes them.
 */

import type { RuntimeClient } from '../../src/runtime/task-map.js';
import {
  type EvalPrompt,
  evalPrompts,
  HELD_OUT_PROMPT_COUNT,
  SEEN_PROMPT_COUNT,
} from '../../src/toy/eval/prompts.js';
import {
  addTallies,
  type KindScore,
  meanAbsoluteError,
  promptTarget,
  type Rates,
  ratesOf,
  readingTarget,
  sceneTarget,
  scoreKinds,
  scoreReading,
  type Tally,
} from '../../src/toy/eval/score.js';
import { createRng } from '../../src/toy/random.js';
import { readScene } from '../../src/toy/read.js';
import { renderScene } from '../../src/toy/render.js';
import { sampleScene, TRAINING_STAGES } from '../../src/toy/scene.js';
import { type SamplingSettings, ToyPipeline } from './pipeline.js';

/** The toy world's frame; the reader and the model are made for it. */
export const TOY_SIZE = 64;
/** Default sampling: what the ComfyUI default graph uses, with a guidance scale for a small model. */
export const DEFAULT_SAMPLING: SamplingSettings = {
  steps: 20,
  cfg: 5,
  samplerName: 'euler',
  scheduler: 'normal',
};

export interface ToyEvalOptions {
  checkpoint: string;
  /** Seeded scenes for the VAE check from the training world, and from HELD_OUT subjects (0 skips the check). */
  vaeScenes: number;
  heldOutVaeScenes: number;
  /** Prompts from the fixed sets (src/toy/eval/prompts.ts) and seeds 0 … seeds−1 for each (0 prompts skips). */
  seenPrompts: number;
  heldOutPrompts: number;
  seeds: number;
  sampling: SamplingSettings;
  /** Seeds per row in the grid (the first ones). */
  gridSeeds: number;
  /** Seed of the VAE check's scenes. */
  sceneSeed: number;
  graphCacheDir?: string;
  log?: (line: string) => void;
}

export const FULL_EVAL: Omit<ToyEvalOptions, 'checkpoint'> = {
  vaeScenes: 200,
  heldOutVaeScenes: 100,
  seenPrompts: SEEN_PROMPT_COUNT,
  heldOutPrompts: HELD_OUT_PROMPT_COUNT,
  seeds: 100,
  sampling: DEFAULT_SAMPLING,
  gridSeeds: 16,
  sceneSeed: 13,
};

/** --quick: generation cut to 4 seen + 2 held-out prompts × 8 seeds; the VAE check stays whole. */
export const QUICK_EVAL: Omit<ToyEvalOptions, 'checkpoint'> = {
  ...FULL_EVAL,
  seenPrompts: 4,
  heldOutPrompts: 2,
  seeds: 8,
  gridSeeds: 8,
};

export interface PixelErrorSummary {
  mean: number;
  median: number;
  p95: number;
  max: number;
}

export interface VaeSetReport {
  scenes: number;
  /** Mean absolute error per pixel and channel (0–255), each scene's mean summarised over the scenes. */
  mae: PixelErrorSummary;
  /** The reader on the originals and on the reconstructions, each against the scenes' truth. */
  originals: Rates;
  reconstructions: Rates;
  /** The reader on the reconstructions against its own reading of the originals. */
  agreement: Rates;
  /** Reconstructions vs truth by kind: shape per "<size> <shape>", pattern per pattern (right / asked). */
  kinds: { shape: Record<string, KindScore>; pattern: Record<string, KindScore> };
}

export interface PromptReport {
  text: string;
  heldOut: boolean;
  rates: Rates;
}

export interface GenerationSetReport {
  prompts: number;
  images: number;
  overall: Rates;
  perPrompt: PromptReport[];
}

export interface ToyEvalReport {
  checkpoint: string;
  fingerprint: string;
  date: string;
  settings: Omit<ToyEvalOptions, 'checkpoint' | 'log' | 'graphCacheDir'>;
  vae?: { imagesPerSecond: number; seen: VaeSetReport; heldOut: VaeSetReport };
  generation?: { imagesPerSecond: number; seen: GenerationSetReport; heldOut: GenerationSetReport };
  wallSeconds: number;
}

export interface ToyEvalResult {
  report: ToyEvalReport;
  /** Grid rows: the prompts, each with its first `gridSeeds` images. */
  grid: { prompts: EvalPrompt[]; images: Uint8Array[][] };
  /** The first scenes of each VAE set, before and after. */
  vaeExamples: { originals: Uint8Array[]; reconstructions: Uint8Array[] };
}

const VAE_BATCH = 16;
const VAE_EXAMPLES = 12;

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summarise(errors: readonly number[]): PixelErrorSummary {
  const sorted = [...errors].sort((a, b) => a - b);
  const mean = sorted.reduce((s, e) => s + e, 0) / sorted.length;
  return { mean, median: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), max: sorted[sorted.length - 1] };
}

const sortedRecord = <T>(map: Map<string, T>): Record<string, T> =>
  Object.fromEntries([...map].sort(([a], [b]) => a.localeCompare(b)));

interface VaeSetRun {
  report: VaeSetReport;
  seconds: number;
  examples: { originals: Uint8Array[]; reconstructions: Uint8Array[] };
}

async function vaeSet(
  pipeline: ToyPipeline,
  count: number,
  seed: number,
  heldOut: 'exclude' | 'require',
): Promise<VaeSetRun> {
  const rng = createRng(seed);
  const scenes = Array.from({ length: count }, () => sampleScene(rng, { ...TRAINING_STAGES.full, heldOut }));
  const originals = scenes.map((scene) => renderScene(scene, TOY_SIZE));
  const reconstructions: Uint8Array[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i += VAE_BATCH) {
    reconstructions.push(...(await pipeline.reconstruct(originals.slice(i, i + VAE_BATCH), TOY_SIZE)));
  }
  const seconds = (performance.now() - started) / 1000;
  const truth: Tally[] = [];
  const recon: Tally[] = [];
  const agree: Tally[] = [];
  const errors: number[] = [];
  const kinds = { shape: new Map<string, KindScore>(), pattern: new Map<string, KindScore>() };
  scenes.forEach((scene, i) => {
    const original = readScene(originals[i], TOY_SIZE);
    const reconstruction = readScene(reconstructions[i], TOY_SIZE);
    const target = sceneTarget(scene);
    truth.push(scoreReading(target, original));
    recon.push(scoreReading(target, reconstruction));
    scoreKinds(target, reconstruction, kinds);
    agree.push(scoreReading(readingTarget(original), reconstruction));
    errors.push(meanAbsoluteError(originals[i], reconstructions[i]));
  });
  return {
    report: {
      scenes: count,
      mae: summarise(errors),
      originals: ratesOf(addTallies(...truth)),
      reconstructions: ratesOf(addTallies(...recon)),
      agreement: ratesOf(addTallies(...agree)),
      kinds: { shape: sortedRecord(kinds.shape), pattern: sortedRecord(kinds.pattern) },
    },
    seconds,
    examples: {
      originals: originals.slice(0, VAE_EXAMPLES),
      reconstructions: reconstructions.slice(0, VAE_EXAMPLES),
    },
  };
}

function generationSet(prompts: PromptReport[], tallies: Tally[]): GenerationSetReport {
  const total = addTallies(...tallies);
  return { prompts: prompts.length, images: total.images, overall: ratesOf(total), perPrompt: prompts };
}

export async function runToyEval(runtime: RuntimeClient, options: ToyEvalOptions): Promise<ToyEvalResult> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const pipeline = await ToyPipeline.load(runtime, options.checkpoint, options.graphCacheDir);
  const { checkpoint, log: _log, graphCacheDir: _dir, ...settings } = options;
  const report: ToyEvalReport = {
    checkpoint,
    fingerprint: pipeline.handle.fingerprint,
    date: new Date().toISOString(),
    settings,
    wallSeconds: 0,
  };
  const result: ToyEvalResult = {
    report,
    grid: { prompts: [], images: [] },
    vaeExamples: { originals: [], reconstructions: [] },
  };

  if (options.vaeScenes + options.heldOutVaeScenes > 0) {
    log(`VAE: reconstructing ${options.vaeScenes} + ${options.heldOutVaeScenes} held-out scenes`);
    await pipeline.reconstruct([renderScene(sampleScene(createRng(0)), TOY_SIZE)], TOY_SIZE); // sessions, untimed
    const seen = await vaeSet(pipeline, options.vaeScenes, options.sceneSeed, 'exclude');
    const heldOut = await vaeSet(pipeline, options.heldOutVaeScenes, options.sceneSeed + 1, 'require');
    report.vae = {
      imagesPerSecond: (options.vaeScenes + options.heldOutVaeScenes) / (seen.seconds + heldOut.seconds),
      seen: seen.report,
      heldOut: heldOut.report,
    };
    for (const part of ['originals', 'reconstructions'] as const) {
      result.vaeExamples[part] = [...seen.examples[part], ...heldOut.examples[part]];
    }
  }

  const prompts = evalPrompts({ seen: options.seenPrompts, heldOut: options.heldOutPrompts });
  if (prompts.length > 0 && options.seeds > 0) {
    const seeds = Array.from({ length: options.seeds }, (_, i) => i);
    await pipeline.generate(prompts[0].text, [0], TOY_SIZE, options.sampling); // sessions, untimed
    let seconds = 0;
    const reports: PromptReport[] = [];
    const tallies: Tally[][] = [];
    for (const [n, prompt] of prompts.entries()) {
      const t0 = performance.now();
      const images = await pipeline.generate(prompt.text, seeds, TOY_SIZE, options.sampling);
      seconds += (performance.now() - t0) / 1000;
      const scores = images.map((rgb) =>
        scoreReading(promptTarget(prompt.subject), readScene(rgb, TOY_SIZE)),
      );
      tallies.push(scores);
      const rates = ratesOf(addTallies(...scores));
      reports.push({ text: prompt.text, heldOut: prompt.heldOut, rates });
      result.grid.prompts.push(prompt);
      result.grid.images.push(images.slice(0, options.gridSeeds));
      log(
        `generation ${n + 1}/${prompts.length}: "${prompt.text}" all-correct ${((rates.allCorrect ?? 0) * 100).toFixed(0)} %`,
      );
    }
    const pick = (heldOut: boolean) => ({
      prompts: reports.filter((r) => r.heldOut === heldOut),
      tallies: tallies.filter((_, i) => reports[i].heldOut === heldOut).flat(),
    });
    const seen = pick(false);
    const held = pick(true);
    report.generation = {
      imagesPerSecond: (prompts.length * seeds.length) / seconds,
      seen: generationSet(seen.prompts, seen.tallies),
      heldOut: generationSet(held.prompts, held.tallies),
    };
  }
  report.wallSeconds = (performance.now() - started) / 1000;
  return result;
}
