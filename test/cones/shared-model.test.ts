/**
 * Extract Concept runs on the SD pipeline's model cache: in one runtime worker, an extraction and a
 * sampling run on the same checkpoint share one loaded model, whose training graph counts in the
 * cache's memory accounting; the model holds one copy of the UNet's weights at a time (the training
 * graph or the sampling UNet), and `/free` (runtime.unloadModels) releases it with everything else.
 * Checked through a real worker thread and the real task table.
 */
import { mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONES_TASKS } from '../../src/cones/extract/protocol.js';
import { WorkerRuntime } from '../../src/runtime/worker-runtime.js';
import { type ModelCacheStats, SD_TASKS } from '../../src/sd/pipeline/protocol.js';
import { type CheckpointHandle, modelFromCheckpoint } from '../../src/sd/pipeline/values.js';
import type { Tensor } from '../../src/shared/types.js';
import { extractPayload, type TinyModelFixture, tinyModel, tinySettings } from './extract-fixtures.js';

let m: TinyModelFixture;
let runtime: WorkerRuntime;
let handle: CheckpointHandle;

const stats = () => runtime.call(SD_TASKS.debugModels, {});

/** Files the process (worker threads included) has mapped into memory (ORT maps external weights). */
function mappedFiles(): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const path = line.split(/\s+/).slice(5).join(' ');
    if (path.startsWith('/')) out.add(path);
  }
  return out;
}

/** Files the process (worker threads included) holds open or mapped into memory. */
function heldFiles(): Set<string> {
  const out = mappedFiles();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.add(readlinkSync(join('/proc/self/fd', fd)));
    } catch {
      // closed while listing
    }
  }
  return out;
}

beforeAll(async () => {
  process.env.CONES_EXECUTION_PROVIDER = 'cpu';
  m = await tinyModel(5);
  runtime = new WorkerRuntime();
  handle = await runtime.call(SD_TASKS.loadCheckpoint, {
    path: m.path,
    graphCacheDir: m.handle.graphCacheDir,
  });
}, 60_000);
afterAll(() => runtime?.close());

async function encode(text: string): Promise<Tensor> {
  const r = await runtime.call(SD_TASKS.encodeText, {
    clip: { kind: 'sd1.clip', checkpoint: handle },
    text,
  });
  return r.embedding;
}

async function sample(): Promise<void> {
  const sampled = await runtime.call(SD_TASKS.sample, {
    model: modelFromCheckpoint(handle),
    positive: [{ embedding: await encode('a photo of a ball') }],
    negative: [{ embedding: await encode('') }],
    latent: { data: new Float32Array(4 * 8 * 8), shape: [1, 4, 8, 8] },
    seed: 3,
    steps: 2,
    cfg: 5,
    samplerName: 'euler',
    scheduler: 'normal',
    denoise: 1,
    previews: false,
  });
  expect(sampled.samples.shape).toEqual([1, 4, 8, 8]);
}

const folderOf = (path: string) => path.slice(0, path.lastIndexOf('/'));

describe('extraction and sampling share the worker model cache', () => {
  let afterExtraction: ModelCacheStats;

  beforeAll(async () => {
    await sample();
    const extracted = await runtime.call(
      CONES_TASKS.extract,
      extractPayload(m, mkdtempSync(join(m.dir, 'cones-')), {
        checkpoint: handle,
        settings: tinySettings({ steps: 2 }),
      }),
    );
    expect(extracted.losses).toHaveLength(2);
    afterExtraction = await stats();
  }, 240_000);

  it('holds exactly one loaded model for the checkpoint, with one copy of the UNet weights: the training graph replaced the sampling UNet', () => {
    expect(afterExtraction.models.map((x) => x.path)).toEqual([m.path]);
    const [model] = afterExtraction.models;
    expect(model.key).toBe(handle.id);
    expect(model.pins).toBe(0);
    const kinds = model.graphs.map((g) => `${g.set}:${g.kind}`);
    expect(kinds).toContain('training:unet-train-kv');
    expect(kinds).not.toContain('inference:unet');
    // each open graph is listed (and its session held) once
    const ids = model.graphs.map((g) => `${g.set}:${g.modelPath}`);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("counts the training graph's sessions in the cache's memory accounting", () => {
    const [model] = afterExtraction.models;
    const training = model.graphs.find((g) => g.kind === 'unet-train-kv')!;
    expect(training.bytes).toBeGreaterThan(0);
    expect(model.bytes).toBe(model.graphs.reduce((a, g) => a + g.bytes, 0));
    expect(afterExtraction.usedBytes).toBe(model.bytes);
  });

  it('sampling after an extraction releases the training sessions before the sampling UNet opens', async () => {
    const training = afterExtraction.models[0].graphs.find((g) => g.kind === 'unet-train-kv')!;
    // ORT maps the training graph's external weights while its session is open. (Mappings only: the
    // graph cache's background housekeeping may hold a file of the entry open for a moment.)
    expect([...mappedFiles()].some((f) => f.startsWith(folderOf(training.modelPath)))).toBe(true);
    await sample();
    const after = await stats();
    const kinds = after.models[0].graphs.map((g) => `${g.set}:${g.kind}`);
    expect(kinds).toContain('inference:unet');
    expect(kinds.filter((k) => k.startsWith('training:'))).toEqual([]);
    expect([...mappedFiles()].some((f) => f.startsWith(folderOf(training.modelPath)))).toBe(false);
    expect(after.usedBytes).toBe(after.models[0].graphs.reduce((a, g) => a + g.bytes, 0));
  }, 120_000);

  it('/free (runtime.unloadModels) releases the model with its sessions', async () => {
    const graphs = (await stats()).models[0].graphs;
    const unet = graphs.find((g) => g.kind === 'unet')!;
    // the loaded model holds the checkpoint open; its sessions' mappings of graph files go with them
    // (mappings only for the graph folder: background housekeeping may hold a file there for a moment)
    const heldBefore = [
      ...[...mappedFiles()].filter((f) => f.startsWith(folderOf(unet.modelPath))),
      ...[...heldFiles()].filter((f) => f === m.path),
    ];
    expect(heldBefore).toContain(m.path);

    await runtime.call('runtime.unloadModels', {});

    const after = await stats();
    expect(after.models).toEqual([]);
    expect(after.usedBytes).toBe(0);
    const stillHeld = [...heldFiles()].filter((f) => heldBefore.includes(f));
    expect(stillHeld).toEqual([]);
  });
});
