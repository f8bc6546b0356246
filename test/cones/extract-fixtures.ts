/** A tiny SD1 checkpoint, synthetic subject photos and a task context for the extraction tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { releaseExtractionModel } from '../../src/cones/extract/model.js';
import {
  DEFAULT_EXTRACT_SETTINGS,
  type ExtractPayload,
  type ExtractSettings,
} from '../../src/cones/extract/protocol.js';
import { openCheckpoint } from '../../src/sd/checkpoint/checkpoint.js';
import type { SD1Config } from '../../src/sd/config.js';
import { handleOf } from '../../src/sd/pipeline/loaded-model.js';
import type { CheckpointHandle } from '../../src/sd/pipeline/values.js';
import { writeTinyModel } from '../../src/sd/tiny-model.js';
import { resolveRuntimeSettings } from '../../src/shared/runtime-settings.js';
import type { TaskContext } from '../../src/shared/tasks.js';
import type { Tensor } from '../../src/shared/types.js';

export interface TinyModelFixture {
  dir: string;
  path: string;
  handle: CheckpointHandle;
}

/** A random tiny SD1 model (`config`: another SD1-architecture layout, default the tiny one). */
export async function tinyModel(seed = 3, config?: SD1Config): Promise<TinyModelFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'cones-extract-'));
  const path = join(dir, `tiny-${seed}.safetensors`);
  await writeTinyModel(path, { seed, config });
  const ckpt = await openCheckpoint(path);
  const handle = { ...handleOf(ckpt), graphCacheDir: join(dir, 'onnx') };
  await ckpt.close();
  return { dir, path, handle };
}

/**
 * The tiny model of a test file that runs extractions on the CPU: written before the file's tests (the
 * returned object is filled in then), the worker's extraction model released after them.
 */
export function tinyModelForFile(seed?: number, config?: SD1Config): TinyModelFixture {
  const m = {} as TinyModelFixture;
  beforeAll(async () => {
    process.env.CONES_EXECUTION_PROVIDER = 'cpu';
    Object.assign(m, await tinyModel(seed, config));
  }, 120_000);
  afterAll(() => releaseExtractionModel());
  return m;
}

/** `count` photos of a coloured disc on a plain background, `size`² pixels, [N, H, W, 3] in 0..1. */
export function discPhotos(count: number, size: number, hue: [number, number, number], seed = 0): Tensor {
  const data = new Float32Array(count * size * size * 3);
  for (let n = 0; n < count; n++) {
    const cx = size * (0.4 + (0.2 * ((n * 7 + seed) % 5)) / 4);
    const cy = size * (0.45 + (0.1 * ((n * 3 + seed) % 3)) / 2);
    const r = size * (0.22 + 0.03 * (n % 3));
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
        const o = ((n * size + y) * size + x) * 3;
        for (let c = 0; c < 3; c++) data[o + c] = inside ? hue[c] : 0.85 - 0.1 * c + 0.05 * (y / size);
      }
  }
  return { data, shape: [count, size, size, 3] };
}

export function tinySettings(over: Partial<ExtractSettings> = {}): ExtractSettings {
  return {
    ...DEFAULT_EXTRACT_SETTINGS,
    steps: 6,
    // ρ = 2e-5 is the paper's setting for SD's 1000-step runs; over the few steps a test can afford it
    // moves ξ by ~1e-5, so the tiny runs use a larger ρ to see the loss fall.
    learningRate: 0.05,
    resolution: 64,
    batchSize: 1,
    priorCount: 2,
    seed: 11,
    ...over,
  };
}

export function extractPayload(
  m: TinyModelFixture,
  cacheDir: string,
  over: Partial<ExtractPayload> = {},
): ExtractPayload {
  return {
    checkpoint: m.handle,
    images: discPhotos(3, 72, [0.9, 0.2, 0.1]),
    identifier: 'sks',
    classNoun: 'ball',
    settings: tinySettings(),
    keepTrainingData: false,
    cacheDir,
    ...over,
  };
}

export function taskContext(
  opts: { abortAfterSteps?: number; logs?: string[] } = {},
): TaskContext & { steps: number } {
  const ctx = {
    steps: 0,
    progress(value: number, max: number) {
      void max;
      ctx.steps = value;
    },
    get aborted() {
      return opts.abortAfterSteps !== undefined && ctx.steps >= opts.abortAfterSteps;
    },
    checkInterrupt() {},
    settings: resolveRuntimeSettings({ provider: 'cpu' }),
    log(m: string) {
      opts.logs?.push(m);
    },
  };
  return ctx;
}
