import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SD1_CONFIG } from '../../../src/sd/config.js';
import {
  attentionMapBudget,
  attentionMapBytesPerSample,
  unetCallSizes,
} from '../../../src/sd/graphs/unet-micro-batch.js';
import { LoadedModel, type UnetRunInput } from '../../../src/sd/pipeline/loaded-model.js';
import { TINY_SD1_CONFIG, writeTinyModel } from '../../../src/sd/tiny-model.js';

describe('UNet calls within an attention-map budget', () => {
  it('SD1 at 512 px: 8 heads × 4096² float32 scores = 512 MiB a sample; a 1 GiB budget takes two a call', () => {
    const perSample = attentionMapBytesPerSample(SD1_CONFIG.unet, 64, 64, 4);
    expect(perSample).toBe(512 * 2 ** 20);
    expect(attentionMapBytesPerSample(SD1_CONFIG.unet, 64, 64, 2)).toBe(256 * 2 ** 20);
    expect(unetCallSizes(8, perSample, 2 ** 30)).toEqual([2, 2, 2, 2]);
    expect(unetCallSizes(2, perSample, 2 ** 30)).toEqual([2]);
    expect(unetCallSizes(5, perSample, 2 ** 30)).toEqual([1, 2, 2]);
    expect(unetCallSizes(8, perSample, 0)).toEqual([8]); // no limit
    expect(unetCallSizes(3, perSample, 1)).toEqual([1, 1, 1]); // one sample over budget still runs, alone
    expect(unetCallSizes(4, 0, 1)).toEqual([4]); // no attention, nothing to bound
    expect(attentionMapBudget(undefined, 'cpu')).toBe(512 * 2 ** 20);
    expect(attentionMapBudget(undefined, 'cuda')).toBe(0);
    expect(attentionMapBudget(7, 'cuda')).toBe(7);
  });

  describe('on the tiny model', () => {
    const root = mkdtempSync(join(tmpdir(), 'micro-batch-'));
    const open = (attentionMapBytes: number) =>
      LoadedModel.open(join(root, 'tiny.safetensors'), {
        graphCacheDir: join(root, 'graphs'),
        dtype: 'float32',
        executionProvider: 'cpu',
        maxShapes: 4,
        attentionMapBytes,
        log: () => {},
      });
    let whole: LoadedModel;
    let split: LoadedModel;
    beforeAll(async () => {
      await writeTinyModel(join(root, 'tiny.safetensors'), { seed: 9 });
      whole = await open(0);
      // One 8×8-latent sample's map, and a bit: every call takes one sample.
      split = await open(attentionMapBytesPerSample(TINY_SD1_CONFIG.unet, 8, 8, 4) + 100);
    });
    afterAll(async () => {
      await whole.release();
      await split.release();
      rmSync(root, { recursive: true, force: true });
    });

    it('a batch split into calls of one sample gives the batched result', async () => {
      const u = TINY_SD1_CONFIG.unet;
      const batch = 3;
      const L = 77;
      const input: UnetRunInput = {
        sample: Float32Array.from({ length: batch * u.inChannels * 64 }, (_, i) => Math.sin(i * 0.37)),
        timestep: Float32Array.from([999, 500, 10]),
        context: Float32Array.from({ length: batch * L * u.contextDim }, (_, i) => Math.cos(i * 0.11)),
        batch,
        contextLength: L,
        height: 8,
        width: 8,
        kvMode: 'none',
      };
      // The model's UNet runner for this batch (the one split.unet uses): watch its session's runs.
      const runner = await split.extraction().sessions.unet({ batch, height: 8, width: 8, contextLength: L });
      const calls = vi.spyOn(runner.session, 'run');
      const a = await whole.unet(input);
      const b = await split.unet(input);
      expect(calls.mock.calls.map(([feeds]) => feeds.sample.shape[0])).toEqual([1, 1, 1]);
      expect(b.length).toBe(a.length);
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      expect(worst).toBeLessThan(1e-5);
      expect(a.some((x) => x !== 0)).toBe(true);
    });
  });
});
