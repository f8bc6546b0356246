/**
 * Damaged entries in the extraction cache (ξ checkpoints, generated priors, finished results) are
 * discarded with a warning and recomputed, never used: the outcome equals an undamaged run's.
 */
import { mkdtempSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ExtractPayload, ExtractResult } from '../../../src/cones/extract/protocol.js';
import { runExtraction } from '../../../src/cones/extract/worker.js';
import { InterruptedError } from '../../../src/shared/interrupted.js';
import { extractPayload, taskContext, tinyModelForFile, tinySettings } from '../extract-fixtures.js';

const m = tinyModelForFile();
let warnings: string[];

beforeEach(() => {
  warnings = [];
  vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    warnings.push(args.join(' '));
  });
});
afterEach(() => vi.restoreAllMocks());

const indicesOf = (r: ExtractResult) => r.concept.layers.map((l) => Array.from(l.indices));

/** Flips every bit of 16 bytes in the middle of the file. */
function flipMiddle(path: string): void {
  const bytes = readFileSync(path);
  const mid = Math.floor(bytes.length / 2);
  for (let i = mid; i < mid + 16; i++) bytes[i] ^= 0xff;
  writeFileSync(path, bytes);
}

function onlyFile(dir: string): string {
  const files = readdirSync(dir);
  expect(files).toHaveLength(1);
  return join(dir, files[0]);
}

describe('damaged ξ checkpoints', () => {
  let base: ExtractResult;
  const payload = (cacheDir: string): ExtractPayload => ({
    ...extractPayload(m, cacheDir),
    noResultCache: true,
    returnXi: true,
    checkpointEvery: 2,
    settings: tinySettings({ steps: 6, learningRate: 5, priorCount: 0 }),
  });

  beforeAll(async () => {
    base = await runExtraction(payload(mkdtempSync(join(m.dir, 'base-'))), taskContext());
  }, 120_000);

  async function interrupted(): Promise<{ cacheDir: string; statePath: string }> {
    const cacheDir = mkdtempSync(join(m.dir, 'state-'));
    await expect(
      runExtraction(payload(cacheDir), taskContext({ abortAfterSteps: 3 })),
    ).rejects.toBeInstanceOf(InterruptedError);
    return { cacheDir, statePath: onlyFile(join(cacheDir, 'state')) };
  }

  it('discards a checkpoint with flipped bytes, warns naming it, and ends with the uninterrupted result', async () => {
    const { cacheDir, statePath } = await interrupted();
    flipMiddle(statePath);
    const logs: string[] = [];
    const r = await runExtraction(payload(cacheDir), taskContext({ logs }));
    expect(r.resumedFrom).toBe(0);
    expect(logs.join('\n')).not.toContain('resuming');
    expect(r.losses).toEqual(base.losses);
    expect(r.xi).toEqual(base.xi);
    expect(indicesOf(r)).toEqual(indicesOf(base));
    const name = `state/${r.hash}.xi`;
    expect(warnings.some((w) => w.includes(name) && /checksum/.test(w))).toBe(true);
  }, 120_000);

  it('discards a truncated checkpoint with a warning', async () => {
    const { cacheDir, statePath } = await interrupted();
    truncateSync(statePath, Math.floor(readFileSync(statePath).length / 2));
    const r = await runExtraction(payload(cacheDir), taskContext());
    expect(r.resumedFrom).toBe(0);
    expect(r.xi).toEqual(base.xi);
    expect(warnings.some((w) => w.includes(`state/${r.hash}.xi`))).toBe(true);
  }, 120_000);

  it('still resumes from an intact checkpoint without warnings', async () => {
    const { cacheDir } = await interrupted();
    const r = await runExtraction(payload(cacheDir), taskContext());
    expect(r.resumedFrom).toBe(3);
    expect(r.xi).toEqual(base.xi);
    expect(warnings).toEqual([]);
  }, 120_000);
});

describe('damaged prior latents', () => {
  it('regenerates a damaged priors file instead of training on it', async () => {
    const cacheDir = mkdtempSync(join(m.dir, 'priors-'));
    const payload: ExtractPayload = {
      ...extractPayload(m, cacheDir),
      noResultCache: true,
      returnXi: true,
      settings: tinySettings({ steps: 3, learningRate: 5 }),
    };
    const first = await runExtraction(payload, taskContext());
    const priorsPath = onlyFile(join(cacheDir, 'priors'));
    const intact = readFileSync(priorsPath);
    flipMiddle(priorsPath);
    const logs: string[] = [];
    const second = await runExtraction(payload, taskContext({ logs }));
    expect(logs.join('\n')).toContain('generating 2 prior images');
    expect(second.xi).toEqual(first.xi);
    expect(second.losses).toEqual(first.losses);
    expect(warnings.some((w) => w.includes(`priors/`) && /checksum/.test(w))).toBe(true);
    // The regenerated file replaced the damaged one.
    expect(readFileSync(priorsPath).equals(intact)).toBe(true);
  }, 120_000);
});

describe('damaged results', () => {
  it('recomputes a damaged cached result (not used, not an error) and stores a good one again', async () => {
    const cacheDir = mkdtempSync(join(m.dir, 'results-'));
    const payload: ExtractPayload = {
      ...extractPayload(m, cacheDir),
      settings: tinySettings({ steps: 2, priorCount: 0 }),
    };
    const first = await runExtraction(payload, taskContext());
    const resultPath = onlyFile(join(cacheDir, 'results'));
    flipMiddle(resultPath);
    const second = await runExtraction(payload, taskContext());
    expect(second.cached).toBe(false);
    expect(indicesOf(second)).toEqual(indicesOf(first));
    expect(warnings.some((w) => w.includes(`results/${first.hash}.cones.safetensors`))).toBe(true);
    const third = await runExtraction(payload, taskContext());
    expect(third.cached).toBe(true);
    expect(indicesOf(third)).toEqual(indicesOf(first));
  }, 120_000);
});
